/* xdp_attach.c - see xdp_attach.h.  Attaching, detaching and listing the
 * dispatcher's programs are libxdp's (xdp_program__attach/detach,
 * xdp_multiprog__*); this file adds only what libxdp leaves to its
 * caller: the bpffs mount, the auto mode's fallback, and finding a
 * crashed run's program by name. */
#include "xdp_attach.h"

#include <dirent.h>
#include <errno.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/stat.h>

#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "util.h"

int xdp_bpffs_ensure(bool *mounted)
{
	struct statfs st;

	*mounted = false;
	if (statfs(XDP_BPFFS_PATH, &st))
		return -errno;
	if ((unsigned long)st.f_type == (unsigned long)BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", XDP_BPFFS_PATH, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700"))
		return -errno;
	*mounted = true;
	return 0;
}

/* 1 when path holds directories only (to depth levels), none of them
 * holding anything else; the kernel's own files in a bpffs root (the
 * bpf_preload iterators maps.debug and progs.debug) do not count. */
static int only_empty_dirs(const char *path, int depth, bool root)
{
	struct dirent *d;
	DIR *dir = opendir(path);
	int ok = 1;

	if (!dir)
		return 0;
	while (ok && (d = readdir(dir))) {
		char sub[512];
		struct stat st;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (root && (!strcmp(d->d_name, "maps.debug") ||
			     !strcmp(d->d_name, "progs.debug")))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, d->d_name);
		if (depth == 0 || lstat(sub, &st) || !S_ISDIR(st.st_mode))
			ok = 0;
		else
			ok = only_empty_dirs(sub, depth - 1, false);
	}
	closedir(dir);
	return ok;
}

int xdp_bpffs_release(bool mounted)
{
	if (!mounted)
		return 0;
	/* libxdp leaves its (empty) xdp/ directory; anything pinned by
	 * someone else since we mounted it keeps the mount */
	if (!only_empty_dirs(XDP_BPFFS_PATH, 2, true))
		return 0;
	if (umount2(XDP_BPFFS_PATH, UMOUNT_NOFOLLOW))
		return -errno;
	return 1;
}

int xdp_mode_parse(const char *s, enum xdp_attach_mode *mode)
{
	if (!strcmp(s, "native"))
		*mode = XDP_MODE_NATIVE;
	else if (!strcmp(s, "skb") || !strcmp(s, "generic"))
		*mode = XDP_MODE_SKB;
	else if (!strcmp(s, "auto"))
		*mode = XDP_MODE_UNSPEC;
	else
		return -EINVAL;
	return 0;
}

const char *xdp_mode_name(enum xdp_attach_mode mode)
{
	switch (mode) {
	case XDP_MODE_NATIVE: return "native";
	case XDP_MODE_SKB: return "skb";
	case XDP_MODE_HW: return "hw";
	default: return "auto";
	}
}

static bool is_ours(const struct xdp_program *p, const char *name)
{
	const char *n = p ? xdp_program__name(p) : NULL;

	return n && !strcmp(n, name);
}

/* Remove one of our programs from the interface's XDP state: 1 removed,
 * 0 none there, -errno. */
static int remove_one(int ifindex, const char *name)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(ifindex);
	struct xdp_program *p;
	long err = libxdp_get_error(mp);
	int ret = 0;

	if (err)
		return err == -ENOENT ? 0 : (int)err;
	if (!mp)
		return 0;
	if (xdp_multiprog__is_legacy(mp)) {
		/* attached without the dispatcher (a kernel without
		 * freplace): the interface's one program */
		if (is_ours(xdp_multiprog__main_prog(mp), name))
			ret = xdp_multiprog__detach(mp) ? -errno : 1;
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p;
		     p = xdp_multiprog__next_prog(p, mp)) {
			if (!is_ours(p, name))
				continue;
			err = xdp_program__detach(p, ifindex,
						  xdp_multiprog__attach_mode(mp), 0);
			ret = err ? (int)err : 1;
			break;	/* mp is stale now: look again */
		}
	}
	xdp_multiprog__close(mp);
	return ret;
}

int xdp_remove_leftovers(struct xdp_iface *x, const char *prog_name)
{
	int r, i;

	/* pins of dispatchers on interfaces that are gone */
	libxdp_clean_references(x->ifindex);
	for (i = 0; i < 16; i++) {
		r = remove_one(x->ifindex, prog_name);
		if (r <= 0)
			return r;
		x->leftovers++;
	}
	return -EBUSY;
}

int xdp_attach_iface(struct xdp_iface *x, struct bpf_object *obj,
		     const char *prog_name)
{
	DECLARE_LIBXDP_OPTS(xdp_program_opts, o, .obj = obj,
			    .prog_name = prog_name);
	enum xdp_attach_mode try[2];
	int n = 0, err = 0;

	x->prog = xdp_program__create(&o);
	err = (int)libxdp_get_error(x->prog);
	if (err) {
		x->prog = NULL;
		return err;
	}
	/* multi-buffer frames copied whole (the program is xdp.frags) */
	err = xdp_program__set_xdp_frags_support(x->prog, true);
	if (err)
		return err;
	if (x->want == XDP_MODE_UNSPEC) {
		try[n++] = XDP_MODE_NATIVE;
		try[n++] = XDP_MODE_SKB;
	} else {
		try[n++] = x->want;
	}
	for (int i = 0; i < n; i++) {
		err = xdp_program__attach(x->prog, x->ifindex, try[i], 0);
		if (!err) {
			x->mode = try[i];
			x->attached = true;
			return 0;
		}
		if (i + 1 < n)
			log_info("%s: %s XDP: %s; trying %s", x->name,
				 xdp_mode_name(try[i]), strerror(-err),
				 xdp_mode_name(try[i + 1]));
	}
	return err;
}

/* libxdp 1.3 fails to detach a program it attached without its
 * dispatcher in skb mode (-ENOENT): detach it by hand, only if it is
 * still the one attached (XDP_FLAGS_REPLACE with our fd). */
static int detach_legacy(struct xdp_iface *x)
{
	LIBBPF_OPTS(bpf_xdp_attach_opts, o,
		    .old_prog_fd = xdp_program__fd(x->prog));
	__u32 flags = XDP_FLAGS_REPLACE;

	if (x->mode == XDP_MODE_SKB)
		flags |= XDP_FLAGS_SKB_MODE;
	else if (x->mode == XDP_MODE_NATIVE)
		flags |= XDP_FLAGS_DRV_MODE;
	return bpf_xdp_detach(x->ifindex, flags, &o) ? -errno : 0;
}

void xdp_detach_iface(struct xdp_iface *x)
{
	int err;

	if (x->attached) {
		err = xdp_program__detach(x->prog, x->ifindex, x->mode, 0);
		if (err)
			err = detach_legacy(x);
		if (err)
			log_warn("%s: detaching the XDP program failed: %s",
				 x->name, strerror(-err));
		x->attached = false;
	}
	xdp_program__close(x->prog);
	x->prog = NULL;
}
