/* config.c - see config.h. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_MAX_LINES 4096

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static const struct option *find_opt(const struct option *opts,
				     const char *key)
{
	for (; opts->name; opts++)
		if (!strcmp(opts->name, key))
			return opts;
	return NULL;
}

static int flag_value(const char *v)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
	    !strcasecmp(v, "on") || !strcmp(v, "1"))
		return 1;
	if (!strcasecmp(v, "no") || !strcasecmp(v, "false") ||
	    !strcasecmp(v, "off") || !strcmp(v, "0"))
		return 0;
	return -1;
}

int config_load(const char *path, const struct option *opts,
		char ***argv_out, int *argc_out, char *err, size_t errlen)
{
	char line[4096], **v = NULL;
	int n = 0, lineno = 0, ret = 0;
	FILE *f = fopen(path, "re");

	*argv_out = NULL;
	*argc_out = 0;
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	v = calloc(CONFIG_MAX_LINES, sizeof(*v));
	if (!v) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *key, *val, *eq, *hash;
		const struct option *o;
		size_t need;
		int fv;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			ret = -EINVAL;
			break;
		}
		/* a comment starts at '#' outside quotes */
		hash = NULL;
		for (char *p = line, q = 0; *p; p++) {
			if (*p == '"')
				q = !q;
			else if (*p == '#' && !q) {
				hash = p;
				break;
			}
		}
		if (hash)
			*hash = 0;
		s = trim(line);
		if (!*s)
			continue;
		eq = strchr(s, '=');
		if (eq) {
			*eq = 0;
			key = trim(s);
			val = trim(eq + 1);
		} else {
			key = s;
			val = s + strcspn(s, " \t");
			if (*val)
				*val++ = 0;
			val = trim(val);
		}
		if (*val == '"') {
			size_t l = strlen(val);
			if (l < 2 || val[l - 1] != '"') {
				snprintf(err, errlen, "%s:%d: unterminated quote",
					 path, lineno);
				ret = -EINVAL;
				break;
			}
			val[l - 1] = 0;
			val++;
		}
		o = find_opt(opts, key);
		if (!o || !strcmp(key, "config") || !strcmp(key, "help")) {
			snprintf(err, errlen, "%s:%d: unknown key '%.64s'", path,
				 lineno, key);
			ret = -EINVAL;
			break;
		}
		if (n == CONFIG_MAX_LINES) {
			snprintf(err, errlen, "%s: more than %d settings", path,
				 CONFIG_MAX_LINES);
			ret = -E2BIG;
			break;
		}
		if (o->has_arg == no_argument) {
			fv = *val ? flag_value(val) : 1;
			if (fv < 0) {
				snprintf(err, errlen, "%s:%d: %s takes yes or no",
					 path, lineno, key);
				ret = -EINVAL;
				break;
			}
			if (!fv)
				continue;
			need = strlen(key) + 3;
			v[n] = malloc(need);
			if (v[n])
				snprintf(v[n], need, "--%s", key);
		} else {
			if (!*val) {
				snprintf(err, errlen, "%s:%d: %s needs a value",
					 path, lineno, key);
				ret = -EINVAL;
				break;
			}
			need = strlen(key) + strlen(val) + 4;
			v[n] = malloc(need);
			if (v[n])
				snprintf(v[n], need, "--%s=%s", key, val);
		}
		if (!v[n]) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	if (!ret && ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	if (ret) {
		config_free(v, n);
		return ret;
	}
	*argv_out = v;
	*argc_out = n;
	return 0;
}

void config_free(char **argv, int argc)
{
	if (!argv)
		return;
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}
