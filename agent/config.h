/* config.h - `--config FILE`: a file of long options, one per line.
 *
 * Owns: parsing only.  The file's keys are the subcommand's long option
 * names, so a config file and a command line say the same things the same
 * way, and one getopt_long() pass (with the file's options first) handles
 * both: a single-valued option given on the command line wins, a
 * repeatable one (--port, --net, --keylog...) adds to the file's.
 *
 *   # comment
 *   interface = eth0,eth1
 *   port = 443
 *   port = 8443
 *   hash-bodies = yes        # a flag: yes/true/on/1 or no/false/off/0
 *
 * Whitespace around '=' and at both ends is ignored; a value may be
 * quoted with "..." (no escapes).  Unknown keys, a value for a flag or a
 * missing value for an option that takes one are errors with the line
 * number: a service must not start with a config it misreads.
 */
#ifndef TAPIR_CONFIG_H
#define TAPIR_CONFIG_H

#include <getopt.h>
#include <stddef.h>

/* Read path against the options table opts (getopt_long's; "config" and
 * "help" are refused as keys).  On success *argv_out holds *argc_out
 * strings "--key=value" / "--flag" (free with config_free) and 0 is
 * returned; otherwise -errno (-EINVAL for a bad line) and a message in
 * err. */
int config_load(const char *path, const struct option *opts,
		char ***argv_out, int *argc_out, char *err, size_t errlen);
void config_free(char **argv, int argc);	/* accepts NULL */

#endif
