/* tc_attach.c - see tc_attach.h.  Counting filters (to decide whether a
 * clsact we created is empty again) is one RTM_GETTFILTER dump over
 * rtnetlink; everything else is libbpf's bpf_tc_* API. */
#include "tc_attach.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "capture.h"
#include "util.h"

static enum bpf_tc_attach_point hook_of(int dir)
{
	return dir == TAPIR_DIR_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS;
}

int tc_attach_iface(struct tc_iface *t, const int prog_fd[2])
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = t->ifindex,
		    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int err, dir;

	err = bpf_tc_hook_create(&hook);
	if (err == 0)
		t->created_clsact = true;
	else if (err != -EEXIST)
		return err;
	for (dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = TAPIR_TC_HANDLE,
			    .priority = TAPIR_TC_PRIO);

		if (!(t->dirs & (1 << dir)))
			continue;
		hook.attach_point = hook_of(dir);
		/* a previous run that died left its filter: ours to remove */
		if (bpf_tc_query(&hook, &o) == 0) {
			LIBBPF_OPTS(bpf_tc_opts, d, .handle = TAPIR_TC_HANDLE,
				    .priority = TAPIR_TC_PRIO);
			if (bpf_tc_detach(&hook, &d) == 0)
				t->leftovers++;
		}
		o.prog_fd = prog_fd[dir];
		o.prog_id = 0;
		o.flags = 0;
		err = bpf_tc_attach(&hook, &o);
		if (err)
			return err;
		t->attached[dir] = true;
	}
	return 0;
}

void tc_detach_iface(struct tc_iface *t)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = t->ifindex);
	int dir, n = 0, c;

	for (dir = 0; dir < 2; dir++) {
		LIBBPF_OPTS(bpf_tc_opts, o, .handle = TAPIR_TC_HANDLE,
			    .priority = TAPIR_TC_PRIO);

		if (!t->attached[dir])
			continue;
		hook.attach_point = hook_of(dir);
		if (bpf_tc_detach(&hook, &o) && errno != ENOENT)
			log_warn("%s: removing the %s filter failed", t->name,
				 dir == TAPIR_DIR_INGRESS ? "ingress" : "egress");
		t->attached[dir] = false;
	}
	if (!t->created_clsact)
		return;
	for (dir = 0; dir < 2; dir++) {
		c = tc_count_filters(t->ifindex, dir);
		n += c < 0 ? 1 : c;	/* unknown: keep it */
	}
	if (n == 0) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
	} else {
		log_info("%s: the clsact qdisc tapir added stays: %d other "
			 "filters on it", t->name, n);
	}
	t->created_clsact = false;
}

int tc_count_filters(int ifindex, int dir)
{
	struct {
		struct nlmsghdr nh;
		struct tcmsg tc;
	} req;
	char buf[16384];
	int fd, n = 0, done = 0;
	ssize_t len;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = sizeof(req);
	req.nh.nlmsg_type = RTM_GETTFILTER;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = 1;
	req.tc.tcm_family = AF_UNSPEC;
	req.tc.tcm_ifindex = ifindex;
	req.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, dir == TAPIR_DIR_INGRESS ?
				      TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
	if (send(fd, &req, sizeof(req), 0) < 0) {
		n = -errno;
		goto out;
	}
	while (!done) {
		struct nlmsghdr *h;

		len = recv(fd, buf, sizeof(buf), 0);
		if (len < 0) {
			n = -errno;
			break;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)len);
		     h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				n = e->error ? e->error : n;
				done = 1;
				break;
			}
			if (h->nlmsg_type == RTM_NEWTFILTER) {
				struct tcmsg *tm = NLMSG_DATA(h);
				/* a filter chain lists its "kind" entry
				 * with handle 0 first, then each filter */
				if (tm->tcm_handle)
					n++;
			}
		}
	}
out:
	close(fd);
	return n;
}
