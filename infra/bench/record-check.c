/* Checks records 0..COUNT-1 of a volume: magic, sequence, run id, payload and FNV-1a as teleport-writer
 * (infra/guest/workload) writes them. Prints "BAD FIRST_BAD"; exits 1 when any record is wrong.
 * Built by infra/bench/wan-live.sh and wan-whole-vm.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define RECORD 4096
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
int main(int argc, char **argv)
{
	if (argc != 4) { fprintf(stderr, "usage: check VOLUME COUNT RUN\n"); return 2; }
	FILE *f = fopen(argv[1], "rb");
	if (!f) { perror(argv[1]); return 2; }
	uint64_t count = strtoull(argv[2], 0, 10), run = strtoull(argv[3], 0, 10), bad = 0, first_bad = 0;
	unsigned char got[RECORD], want[RECORD];
	for (uint64_t n = 0; n < count; n++) {
		if (fread(got, 1, RECORD, f) != RECORD) { fprintf(stderr, "volume ends at record %llu\n", (unsigned long long)n); return 1; }
		uint64_t x = (n ^ run) * 0x9e3779b97f4a7c15ULL | 1, h = 0xcbf29ce484222325ULL;
		memcpy(want, "TPWREC01", 8); put64(want + 8, n); put64(want + 16, run);
		for (size_t i = 24; i < RECORD - 8; i += 8) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; put64(want + i, x); }
		for (size_t i = 0; i < RECORD - 8; i++) { h ^= want[i]; h *= 0x100000001b3ULL; }
		put64(want + RECORD - 8, h);
		if (memcmp(got, want, RECORD) != 0) { if (!bad++) first_bad = n; }
	}
	printf("%llu %llu\n", (unsigned long long)bad, (unsigned long long)first_bad);
	return bad ? 1 : 0;
}
