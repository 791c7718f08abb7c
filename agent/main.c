/* main.c - `tapir` entry point: dispatch to a subcommand.
 * Owns nothing but argv[1]. */
#include <stdio.h>
#include <string.h>

#include "tapir.h"

static void usage(FILE *f)
{
	fputs("usage: tapir COMMAND [OPTIONS]\n"
	      "\n"
	      "commands:\n"
	      "  read CAPTURE   reconstruct HTTP calls from a pcap/pcapng file\n"
	      "  capture -i IF  capture live with a TC BPF program (root)\n"
	      "  span -i IF     capture a span/mirror port with XDP (root)\n"
	      "  version        print the version\n"
	      "\n"
	      "`tapir COMMAND --help` describes a command's options.\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "read"))
		return cmd_read(argc - 1, argv + 1);
	if (!strcmp(argv[1], "capture"))
		return cmd_capture(argc - 1, argv + 1);
	if (!strcmp(argv[1], "span"))
		return cmd_span(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("tapir %s\n", TAPIR_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "tapir: error: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
