/* xdp_attach.h - tapir's XDP program on a span port, through libxdp.
 *
 * Owns: the attachment of the one tapir_span program (xdp/span.bpf.c) to
 * one interface, made through libxdp's dispatcher so that it runs beside
 * other XDP programs attached the same way (xdp-loader, other libxdp
 * users), and the bpffs mount libxdp needs when tapir had to make it.
 * Touches nothing else: other programs in the dispatcher stay, a bpffs
 * that was already mounted stays.
 *
 *   xdp_bpffs_ensure:   /sys/fs/bpf a bpffs? no -> mount it, remember
 *   xdp_remove_leftovers: our program in the interface's dispatcher (a
 *                       crashed run) -> detach it (by name)
 *   xdp_attach_iface:   mode native/skb, or auto: native, then skb
 *   xdp_detach_iface:   detach ours (libxdp removes the dispatcher and
 *                       its pins when ours was the last program)
 *   xdp_bpffs_release:  unmount what xdp_bpffs_ensure mounted, if nothing
 *                       is pinned in it any more
 *
 * One tapir per interface: a second one would take the first's program
 * for a leftover.
 */
#ifndef TAPIR_XDP_ATTACH_H
#define TAPIR_XDP_ATTACH_H

#include <stdbool.h>

#include <xdp/libxdp.h>

#define XDP_BPFFS_PATH "/sys/fs/bpf"

struct xdp_iface {
	char name[32];
	int ifindex;
	enum xdp_attach_mode want;	/* XDP_MODE_UNSPEC: auto */
	enum xdp_attach_mode mode;	/* what the attach got */
	struct xdp_program *prog;	/* NULL until attached */
	bool attached;
	int leftovers;			/* programs of a crashed run removed */
};

/* Make sure XDP_BPFFS_PATH is a bpffs; *mounted says whether this call
 * mounted it.  0 or -errno. */
int xdp_bpffs_ensure(bool *mounted);
/* Unmount XDP_BPFFS_PATH if mounted says we did and it holds nothing but
 * libxdp's empty directory.  Returns 1 unmounted, 0 left, -errno. */
int xdp_bpffs_release(bool mounted);
/* "native", "skb", "auto" -> mode (auto: XDP_MODE_UNSPEC); -EINVAL. */
int xdp_mode_parse(const char *s, enum xdp_attach_mode *mode);
const char *xdp_mode_name(enum xdp_attach_mode mode);
/* Detach every program named prog_name from x->ifindex (a crashed run's),
 * counted in x->leftovers.  0 or -errno. */
int xdp_remove_leftovers(struct xdp_iface *x, const char *prog_name);
/* Load program prog_name of obj (opened, not loaded: libxdp loads it as
 * its dispatcher needs) and attach it to x->ifindex in x->want.  0 or
 * -errno (nothing attached).  The maps of obj are usable once it returns
 * 0. */
int xdp_attach_iface(struct xdp_iface *x, struct bpf_object *obj,
		     const char *prog_name);
/* Undo xdp_attach_iface (and close the libxdp program; obj stays the
 * caller's).  Safe to call twice and after a failed attach. */
void xdp_detach_iface(struct xdp_iface *x);

#endif
