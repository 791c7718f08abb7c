/* tapir.h - the subcommands main() dispatches to.  Each returns the
 * process exit status: 0 ok, 1 failure, 2 usage error. */
#ifndef TAPIR_TAPIR_H
#define TAPIR_TAPIR_H

#define TAPIR_VERSION "0.1.0"

int cmd_read(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_span(int argc, char **argv);

#endif
