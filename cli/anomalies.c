// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * anomalies IFACE [-w FILE.pcapng] [-f] [-n COUNT]: the packets the entry
 * recorded because they got XDP_ABORTED, met an empty slot or saw two
 * generations, as lines or as a pcapng file whose every packet carries a
 * comment naming the reason and the stage (tshark -e frame.comment).
 * observe IFACE [record on|off] [timing N|off]: the recorder and stage
 * timing knobs, until the next reload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "sluicectl.h"

#define FOLLOW_MS	250
#define SNAP_MAX	128	/* SLUICE_ANOMALY_SNAP: what the entry keeps of a packet */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* ---- pcapng (draft-ietf-opsawg-pcapng): one section, one interface ---- */

#define PCAPNG_SHB		0x0a0d0d0au
#define PCAPNG_IDB		0x00000001u
#define PCAPNG_EPB		0x00000006u
#define PCAPNG_BOM		0x1a2b3c4du
#define PCAPNG_OPT_END		0
#define PCAPNG_OPT_COMMENT	1
#define PCAPNG_SHB_USERAPPL	4
#define PCAPNG_IF_NAME		2
#define PCAPNG_IF_TSRESOL	9
#define LINKTYPE_ETHERNET	1

struct blk {
	uint8_t b[4096];
	size_t len;
};

static void put(struct blk *k, const void *p, size_t n)
{
	if (k->len + n > sizeof(k->b))
		n = sizeof(k->b) - k->len;
	memcpy(k->b + k->len, p, n);
	k->len += n;
}

static void put32(struct blk *k, uint32_t v)
{
	put(k, &v, 4);
}

static void pad4(struct blk *k)
{
	static const uint8_t z[4];

	put(k, z, (4 - k->len % 4) % 4);
}

static void opt(struct blk *k, uint16_t code, const void *v, uint16_t len)
{
	put(k, &code, 2);
	put(k, &len, 2);
	put(k, v, len);
	pad4(k);
}

static void opt_end(struct blk *k)
{
	put32(k, 0);
}

/* Writes a block: type, total length, body, total length again. */
static int block_write(FILE *f, uint32_t type, const struct blk *body)
{
	uint32_t total = (uint32_t)(12 + body->len);

	if (fwrite(&type, 4, 1, f) != 1 || fwrite(&total, 4, 1, f) != 1 ||
	    fwrite(body->b, 1, body->len, f) != body->len || fwrite(&total, 4, 1, f) != 1)
		return -EIO;
	return 0;
}

static int pcapng_head(FILE *f, const char *ifname)
{
	struct blk k = {};
	uint64_t section_len = UINT64_MAX;
	uint16_t major = 1, minor = 0, linktype = LINKTYPE_ETHERNET, reserved = 0;
	uint32_t snaplen = 0;	/* no limit: a record's caplen says what was kept */
	uint8_t tsresol = 9;	/* nanoseconds */
	char app[64];

	put32(&k, PCAPNG_BOM);
	put(&k, &major, 2);
	put(&k, &minor, 2);
	put(&k, &section_len, 8);
	snprintf(app, sizeof(app), "sluicectl %s", SLUICE_VERSION);
	opt(&k, PCAPNG_SHB_USERAPPL, app, (uint16_t)strlen(app));
	opt_end(&k);
	if (block_write(f, PCAPNG_SHB, &k))
		return -EIO;
	memset(&k, 0, sizeof(k));
	put(&k, &linktype, 2);
	put(&k, &reserved, 2);
	put32(&k, snaplen);
	opt(&k, PCAPNG_IF_NAME, ifname, (uint16_t)strlen(ifname));
	opt(&k, PCAPNG_IF_TSRESOL, &tsresol, 1);
	opt_end(&k);
	return block_write(f, PCAPNG_IDB, &k);
}

static int hex_decode(const char *hex, uint8_t *out, size_t max)
{
	size_t n = strlen(hex) / 2;

	if (n > max)
		n = max;
	for (size_t i = 0; i < n; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return (int)n;
}

/* The comment each packet carries: the reason, then where, then the rest of the context. */
static void comment_of(struct json_object *r, char *buf, size_t len)
{
	snprintf(buf, len, "sluice anomaly: reason=%s slot=%s stage=%s bank=%s gen=%s gen_other=%s "
		 "verdict=%s rx_queue=%s seq=%s", jstr(r, "reason"), jstr(r, "slot"),
		 *jstr(r, "stage") ? jstr(r, "stage") : "-", jstr(r, "bank"), jstr(r, "gen"),
		 jstr(r, "gen_other"), jstr(r, "verdict"), jstr(r, "rx_queue"), jstr(r, "seq"));
}

static int pcapng_packet(FILE *f, struct json_object *r)
{
	uint8_t data[SNAP_MAX];
	uint64_t ts = (uint64_t)jint(r, "time_ns");
	char comment[512];
	struct blk k = {};
	int caplen = hex_decode(jstr(r, "data"), data, sizeof(data));

	if (caplen < 0)
		return caplen;
	put32(&k, 0);				/* interface */
	put32(&k, (uint32_t)(ts >> 32));
	put32(&k, (uint32_t)ts);
	put32(&k, (uint32_t)caplen);
	put32(&k, (uint32_t)jint(r, "len"));
	put(&k, data, (size_t)caplen);
	pad4(&k);
	comment_of(r, comment, sizeof(comment));
	opt(&k, PCAPNG_OPT_COMMENT, comment, (uint16_t)strlen(comment));
	opt_end(&k);
	return block_write(f, PCAPNG_EPB, &k);
}

/* ---- text ---- */

/* "udp 10.0.0.1:1000 > 10.0.0.2:9" from the first bytes; what cannot be read stays out. */
static void summary(const uint8_t *p, int n, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	uint16_t type;
	int off = 14, l4 = 0;
	uint8_t proto = 0;
	const char *pn;

	snprintf(buf, len, "-");
	if (n < 14)
		return;
	type = (uint16_t)(p[12] << 8 | p[13]);
	while ((type == 0x8100 || type == 0x88a8) && n >= off + 4) {
		type = (uint16_t)(p[off + 2] << 8 | p[off + 3]);
		off += 4;
	}
	if (type == 0x0800 && n >= off + 20) {
		inet_ntop(AF_INET, p + off + 12, s, sizeof(s));
		inet_ntop(AF_INET, p + off + 16, d, sizeof(d));
		proto = p[off + 9];
		if (!((p[off + 6] & 0x1f) | p[off + 7]))
			l4 = off + (p[off] & 15) * 4;
	} else if (type == 0x86dd && n >= off + 40) {
		inet_ntop(AF_INET6, p + off + 8, s, sizeof(s));
		inet_ntop(AF_INET6, p + off + 24, d, sizeof(d));
		proto = p[off + 6];
		l4 = off + 40;
	} else {
		snprintf(buf, len, "ethertype 0x%04x", type);
		return;
	}
	pn = proto == 6 ? "tcp" : proto == 17 ? "udp" : proto == 1 ? "icmp" : proto == 58 ? "icmpv6" : NULL;
	if ((proto == 6 || proto == 17) && l4 && n >= l4 + 4)
		snprintf(buf, len, "%s %s:%u > %s:%u", pn, s, p[l4] << 8 | p[l4 + 1], d,
			 p[l4 + 2] << 8 | p[l4 + 3]);
	else if (pn)
		snprintf(buf, len, "%s %s > %s", pn, s, d);
	else
		snprintf(buf, len, "proto %u %s > %s", proto, s, d);
}

static void print_record(struct json_object *r)
{
	int64_t ns = jint(r, "time_ns");
	time_t t = (time_t)(ns / 1000000000);
	uint8_t data[SNAP_MAX];
	char tbuf[32], sum[160];
	int n = hex_decode(jstr(r, "data"), data, sizeof(data));
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(tbuf, sizeof(tbuf), "%F %T", &tm);
	summary(data, n, sum, sizeof(sum));
	printf("%s.%06ld %-11s slot %-2s %-12s bank %s gen %s verdict %-8s len %-5s %s\n", tbuf,
	       (long)(ns % 1000000000 / 1000), jstr(r, "reason"), jstr(r, "slot"),
	       *jstr(r, "stage") ? jstr(r, "stage") : "-", jstr(r, "bank"), jstr(r, "gen"),
	       jstr(r, "verdict"), jstr(r, "len"), sum);
}

static int usage(void)
{
	return cli_usage_error("usage: anomalies IFACE [-w FILE.pcapng] [-f] [-n COUNT]");
}

int cmd_anomalies(int argc, char **argv)
{
	const char *iface = NULL, *file = NULL;
	struct json_object *req, *reply;
	uint64_t after = 0, count = 0, shown = 0, lost = 0;
	bool follow = false, head = true;
	FILE *f = NULL;
	int ret = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-w")) {
			if (++i >= argc)
				return usage();
			file = argv[i];
		} else if (!strcmp(argv[i], "-f")) {
			follow = true;
		} else if (!strcmp(argv[i], "-n")) {
			if (++i >= argc || cli_parse_u64(argv[i], &count) || !count)
				return cli_usage_error("anomalies: -n needs a COUNT > 0");
		} else if (argv[i][0] == '-' || iface) {
			return usage();
		} else {
			iface = argv[i];
		}
	}
	if (!iface)
		return usage();
	if (file) {
		f = !strcmp(file, "-") ? stdout : fopen(file, "wbe");
		if (!f) {
			fprintf(stderr, "sluicectl: %s: %s\n", file, strerror(errno));
			return EXIT_REFUSED;
		}
		if (pcapng_head(f, iface)) {
			fprintf(stderr, "sluicectl: %s: %s\n", file, strerror(EIO));
			ret = EXIT_REFUSED;
			goto out;
		}
		fflush(f);
	}
	if (follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
	}
	while (!stop) {
		struct json_object *recs;
		size_t n;

		req = cli_req("anomalies");
		json_object_object_add(req, "iface", json_object_new_string(iface));
		json_object_object_add(req, "after", json_object_new_int64((int64_t)after));
		ret = cli_call(req, &reply);
		json_object_put(req);
		if (ret)
			break;
		recs = jget(reply, "records");
		n = jlen(recs);
		lost += (uint64_t)jint(reply, "lost");
		if (cli.json && !follow && !file) {
			/* One reply, as the daemon sent it: it says where the next would start. */
			print_json(reply);
			json_object_put(reply);
			break;
		} else if (!file && !cli.json && head && !n && !follow) {
			printf("%s: no anomalies recorded (recorder %s)\n", iface,
			       json_object_get_boolean(jget(reply, "record")) ? "on" : "off");
		}
		for (size_t i = 0; i < n && (!count || shown < count); i++, shown++) {
			struct json_object *r = json_object_array_get_idx(recs, i);

			if (f) {
				if (pcapng_packet(f, r)) {
					fprintf(stderr, "sluicectl: %s: %s\n", file, strerror(EIO));
					ret = EXIT_REFUSED;
					break;
				}
			} else if (cli.json) {
				if (follow)
					print_json(r);
			} else {
				print_record(r);
			}
		}
		head = false;
		after = (uint64_t)jint(reply, "next");
		json_object_put(reply);
		if (f)
			fflush(f);
		else
			fflush(stdout);
		if (ret || (count && shown >= count))
			break;
		if (n)
			continue;	/* there may be more than one reply holds */
		if (!follow)
			break;
		usleep(FOLLOW_MS * 1000);
	}
	if (lost)
		fprintf(stderr, "sluicectl: %" PRIu64 " anomalies went before they were read (the daemon "
			"keeps observe.keep of them)\n", lost);
	if (file && f != stdout)
		fprintf(stderr, "%" PRIu64 " packet(s) written to %s\n", shown, file);
out:
	if (f && f != stdout && fclose(f) && !ret) {
		fprintf(stderr, "sluicectl: %s: %s\n", file, strerror(errno));
		ret = EXIT_REFUSED;
	}
	return ret;
}

/* ---- observe ---- */

static void print_observe(struct json_object *req, struct json_object *reply)
{
	int64_t every = jint(reply, "time_sample");

	printf("%s: anomaly recorder %s, stage timing ", jstr(reply, "iface"),
	       json_object_get_boolean(jget(reply, "record")) ? "on" : "off");
	if (every)
		printf("1 packet in %" PRId64 "\n", every);
	else
		printf("off\n");
}

int cmd_observe(int argc, char **argv)
{
	static const char *const words[] = { "record", "timing" };
	struct json_object *req;
	const char *iface = NULL;
	uint64_t every;

	req = cli_req("observe");
	for (int i = 1; i < argc; i++) {
		int k;

		if (!iface) {
			iface = argv[i];
			continue;
		}
		k = cli_keyword("observe setting", argv[i], words, 2);
		if (k < 0 || ++i >= argc) {
			json_object_put(req);
			return k < 0 ? EXIT_USAGE : cli_usage_error("observe: %s needs a value", words[k]);
		}
		if (k == 0) {
			if (strcmp(argv[i], "on") && strcmp(argv[i], "off")) {
				json_object_put(req);
				return cli_usage_error("observe: record on or off, not '%s'", argv[i]);
			}
			json_object_object_add(req, "record", json_object_new_boolean(!strcmp(argv[i], "on")));
		} else {
			if (!strcmp(argv[i], "off"))
				every = 0;
			else if (!strncmp(argv[i], "1/", 2) ? cli_parse_u64(argv[i] + 2, &every) :
							      cli_parse_u64(argv[i], &every)) {
				json_object_put(req);
				return cli_usage_error("observe: timing N (1 packet in N) or off, not '%s'",
						       argv[i]);
			}
			json_object_object_add(req, "time_sample", json_object_new_int64((int64_t)every));
		}
	}
	if (!iface) {
		json_object_put(req);
		return cli_usage_error("usage: observe IFACE [record on|off] [timing N|off]");
	}
	json_object_object_add(req, "iface", json_object_new_string(iface));
	return cli_do(req, print_observe);
}
