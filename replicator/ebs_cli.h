/* ebs_cli — the `export-ebs` command of wavemill-receiver (see ebs_cli.c
 * for its options).  argv[1] is "export-ebs"; returns the exit status. */
#ifndef REPL_EBS_CLI_H
#define REPL_EBS_CLI_H

int ebs_cli_main(int argc, char **argv);

#endif
