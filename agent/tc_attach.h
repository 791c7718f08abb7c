/* tc_attach.h - tapir's filters on clsact hooks, through libbpf's TC API.
 *
 * Owns: the filters it attaches (found again by TAPIR_TC_HANDLE and
 * TAPIR_TC_PRIO, tc/capture.h) and, per interface, whether it created the
 * clsact qdisc.  Touches nothing else: an existing clsact (or another
 * qdisc) is left alone, other filters on the same hooks are never removed.
 *
 *   tc_attach_iface:  [clsact exists? no -> create, remember]
 *                     remove our leftovers (a crashed run) -> attach
 *   tc_detach_iface:  detach our filters; if we created clsact and no
 *                     other filter is on it now -> delete clsact
 *
 * One tapir per interface: a second one would take the first's filters
 * for leftovers.
 */
#ifndef TAPIR_TC_ATTACH_H
#define TAPIR_TC_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

struct tc_iface {
	char name[32];
	int ifindex;
	uint8_t dirs;		/* enum tapir_if_dirs */
	bool created_clsact;
	bool attached[2];	/* [TAPIR_DIR_INGRESS], [TAPIR_DIR_EGRESS] */
	int leftovers;		/* filters of a previous run removed */
};

/* prog_fd[dir] for each direction in t->dirs.  0 or -errno (with what was
 * attached left attached: call tc_detach_iface). */
int tc_attach_iface(struct tc_iface *t, const int prog_fd[2]);
/* Undo tc_attach_iface.  Safe to call twice, and on a partial attach. */
void tc_detach_iface(struct tc_iface *t);
/* Filters on one clsact hook of ifindex (any owner), or -errno. */
int tc_count_filters(int ifindex, int dir);

#endif
