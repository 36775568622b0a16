/* `portico-worker replay`: replays recorded workflow histories against the C workflows of shared
 * objects, for CI (sdk/replayer.h does the replaying). */
#ifndef WORKER_REPLAY_H
#define WORKER_REPLAY_H

/* Runs `replay --workflows lib.so [--workflows lib.so]... history.json...` (argv[0] is "replay").
 * Prints one line per history on stdout: "ok <file> (<n> events)", "NONDETERMINISM <file>:
 * <message>", or "FAILED <file>: <message>" for a history that cannot be replayed for another
 * reason. Returns the exit status: 0 when every history replays, 1 when one does not, 2 for a
 * usage error (bad arguments, a library that does not load, bad codec keys). */
int worker_replay_main(int argc, char **argv);

#endif
