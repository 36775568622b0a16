/* The proto→JSON per-byte bench alone (protojson_bench.h). Usage: protojson_bench [ROUNDS] */
#include "protojson_bench.h"

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	protojson_bench_run(stdout, rounds > 0 ? rounds : 1);
	return 0;
}
