// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluiced's start-up figures, measured from outside as an operator sees
 * them: time from exec to the first packet the pipeline processed, resident
 * memory once it serves, and time for a restarted daemon to adopt the
 * pinned pipeline (kill -9 first), checking the XDP link id stays the same.
 *
 * Usage (inside the DUT's network namespace, traffic already flowing):
 *   startup SLUICED CONFIG PIN_IFACE_DIR SOCKET [ROUNDS]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include <sluice/abi.h>
#include "ctl.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static pid_t spawn(const char *sluiced, const char *config)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(sluiced, sluiced, "-c", config, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Packets the pipeline has counted, or -1 while its map is not pinned yet. */
static long long pipe_packets(const char *dir)
{
	int ncpu = libbpf_num_possible_cpus(), fd;
	struct sluice_pipe_stats v[256];
	char path[512];
	long long sum = 0;

	snprintf(path, sizeof(path), "%s/maps/%s", dir, SLUICE_MAP_PIPE_STATS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -1;
	/* One entry per bank: every bank's packets are the pipeline's. */
	for (__u32 bank = 0; bank < SLUICE_NR_BANKS; bank++) {
		if (ncpu > 256 || bpf_map_lookup_elem(fd, &bank, v)) {
			close(fd);
			return -1;
		}
		for (int i = 0; i < ncpu; i++)
			sum += (long long)v[i].packets;
	}
	close(fd);
	return sum;
}

/* Link id from `status`, or 0 while the daemon does not answer. */
static long long status_link(const char *sock)
{
	struct json_object *req = json_object_new_object(), *rep = NULL, *ifs, *link;
	long long id = 0;

	json_object_object_add(req, "op", json_object_new_string("status"));
	if (!ctl__request(sock, req, &rep, 1000) &&
	    json_object_object_get_ex(rep, "interfaces", &ifs) && json_object_array_length(ifs) &&
	    json_object_object_get_ex(json_object_array_get_idx(ifs, 0), "link_id", &link))
		id = json_object_get_int64(link);
	json_object_put(req);
	json_object_put(rep);
	return id;
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	double first[32], adopt[32], t0, deadline;
	long rss[32];
	int rounds = argc > 5 ? atoi(argv[5]) : 5;
	char cmd[1024];

	if (argc < 5 || rounds < 1 || rounds > 32) {
		fprintf(stderr, "usage: startup SLUICED CONFIG PIN_IFACE_DIR SOCKET [ROUNDS<=32]\n");
		return 2;
	}
	libbpf_set_print(NULL);
	for (int r = 0; r < rounds; r++) {
		long long link, link2;
		pid_t pid;

		/* A cold start: nothing pinned. */
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", argv[3]);
		if (system(cmd))
			return 1;
		t0 = now_ms();
		pid = spawn(argv[1], argv[2]);
		deadline = t0 + 10000;
		while (pipe_packets(argv[3]) <= 0 && now_ms() < deadline)
			usleep(50);
		first[r] = now_ms() - t0;
		while (!(link = status_link(argv[4])) && now_ms() < deadline)
			usleep(1000);
		if (!link || first[r] >= 10000) {
			fprintf(stderr, "startup: the daemon did not start or no packet came\n");
			kill(pid, SIGKILL);
			return 1;
		}
		rss[r] = rss_kib(pid);

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		t0 = now_ms();
		pid = spawn(argv[1], argv[2]);
		while (!(link2 = status_link(argv[4])) && now_ms() < t0 + 10000)
			usleep(200);
		adopt[r] = now_ms() - t0;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		if (link2 != link) {
			fprintf(stderr, "startup: link %lld became %lld: the restart detached\n", link, link2);
			return 1;
		}
		printf("round %d: first packet %.1f ms, rss %ld KiB, adoption %.1f ms (link %lld kept)\n",
		       r + 1, first[r], rss[r], adopt[r], link);
	}
	qsort(first, rounds, sizeof(double), cmp);
	qsort(adopt, rounds, sizeof(double), cmp);
	{
		long max = 0;

		for (int r = 0; r < rounds; r++)
			max = rss[r] > max ? rss[r] : max;
		printf("\n%-44s %10s\n", "figure", "median");
		printf("%-44s %8.1f ms\n", "sluiced start to first packet processed", first[rounds / 2]);
		printf("%-44s %8.1f ms\n", "restart to adopted and serving", adopt[rounds / 2]);
		printf("%-44s %7.1f MiB (max; target < 16)\n", "daemon RSS", max / 1024.0);
		/* For bench/run.sh --summary. */
		printf("\nFIGURE daemon.start_to_first_packet %.1f ms - info\n", first[rounds / 2]);
		printf("FIGURE daemon.restart_to_serving %.1f ms - info\n", adopt[rounds / 2]);
		printf("FIGURE daemon.rss %.1f MiB <16 %s\n", max / 1024.0, max < 16 * 1024 ? "met" : "missed");
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", argv[3]);
	return system(cmd) ? 1 : 0;
}
