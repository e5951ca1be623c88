/* OCI image layouts as verified layer sources; see oci.h. */
#include "oci/oci.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/json.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define MAX_JSON (16 << 20)  /* index, manifest, config: far above real ones */
#define MAX_NESTING 4        /* indexes within indexes */
#define DIGEST_LEN (7 + BLZ_SHA256_HEX_LEN)
#define REF_NAME "org.opencontainers.image.ref.name"
#define MAX_LISTED 8         /* candidates named in a message */

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };
static const char *const comp_name[] = { "uncompressed", "gzip", "zstd" };

static const struct {
	const char *type;
	enum comp comp;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", COMP_NONE },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", COMP_GZIP },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", COMP_ZSTD },
	{ "application/vnd.docker.image.rootfs.diff.tar", COMP_NONE },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", COMP_GZIP },
};

struct desc {
	const char *media_type; /* points into the JSON tree it came from */
	char digest[DIGEST_LEN + 1];
	uint8_t hash[BLZ_SHA256_LEN];
	uint64_t size;
};

struct layer_info {
	char digest[DIGEST_LEN + 1];
	uint8_t hash[BLZ_SHA256_LEN];
	uint64_t size;
	char *media_type;
	enum comp comp;
	uint8_t diff_id[BLZ_SHA256_LEN];
	char name[DIGEST_LEN + 48];
};

struct blz_oci_image {
	int dirfd;
	char *dir;
	char manifest_digest[DIGEST_LEN + 1];
	struct layer_info *layers;
	size_t nlayers;
};

struct blz_oci_layer {
	const struct layer_info *li;
	int fd;
	struct blz_sha256 raw, dec;
	uint64_t raw_len;
	uint8_t magic[4];
	size_t nmagic;
};

struct platform {
	char os[32], arch[32], variant[32];
};

/* s for a message: at most 100 bytes, anything but printable ASCII as '?'. */
static const char *printable(char buf[112], const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 100; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(buf + i, s[i] ? "..." : "");
	return buf;
}

/* ---- descriptors ---- */

static bool is_alg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("+._-", c);
}

/* "sha256:<64 lowercase hex>", checked before it becomes part of a path. */
static int parse_digest(const char *s, const char *where, char out[DIGEST_LEN + 1],
			uint8_t hash[BLZ_SHA256_LEN], char *err, size_t errlen)
{
	const char *colon = strchr(s, ':');
	char q[112];

	if (colon && colon > s) {
		const char *c = s;
		while (c < colon && *c && is_alg_char(*c))
			c++;
		if (c == colon && (colon - s != 6 || memcmp(s, "sha256", 6)))
			return blz_errf(err, errlen, -EOPNOTSUPP,
					"%s: unsupported digest algorithm in '%s' (only sha256)", where,
					printable(q, s));
	}
	if (!colon || colon - s != 6 || memcmp(s, "sha256", 6) ||
	    strlen(colon + 1) != BLZ_SHA256_HEX_LEN ||
	    strspn(colon + 1, "0123456789abcdef") != BLZ_SHA256_HEX_LEN)
		return blz_errf(err, errlen, -EBADMSG,
				"%s: invalid digest '%s' (want sha256: and 64 lowercase hex digits)",
				where, printable(q, s));
	memcpy(out, s, DIGEST_LEN);
	out[DIGEST_LEN] = '\0';
	blz_unhex(colon + 1, hash, BLZ_SHA256_LEN);
	return 0;
}

static int parse_desc(const struct blz_json *j, const char *where, struct desc *d, char *err,
		      size_t errlen)
{
	if (!j || j->type != BLZ_JSON_OBJECT)
		return blz_errf(err, errlen, -EBADMSG, "%s: the descriptor is not an object", where);
	d->media_type = blz_json_string(blz_json_get(j, "mediaType"));
	if (!d->media_type)
		return blz_errf(err, errlen, -EBADMSG, "%s: the descriptor has no mediaType", where);
	const char *dg = blz_json_string(blz_json_get(j, "digest"));
	if (!dg)
		return blz_errf(err, errlen, -EBADMSG, "%s: the descriptor has no digest", where);
	int r = parse_digest(dg, where, d->digest, d->hash, err, errlen);
	if (r < 0)
		return r;
	if (blz_json_u64(blz_json_get(j, "size"), &d->size) < 0 || d->size > INT64_MAX)
		return blz_errf(err, errlen, -EBADMSG,
				"%s %s: the descriptor has no valid size", where, d->digest);
	return 0;
}

/* ---- files and blobs ---- */

static int open_regular(struct blz_oci_image *img, const char *path, int *ret_fd,
			uint64_t *ret_size, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO planted in the layout must not block the open */
	int fd = openat(img->dirfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0)
		return blz_errf(err, errlen, -errno, "cannot open '%s/%s': %s", img->dir, path,
				strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return blz_errf(err, errlen, -EINVAL, "'%s/%s' is not a regular file", img->dir,
				path);
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

/* Opens the blob d names, which must have the size d gives. what: "manifest", ... */
static int open_blob(struct blz_oci_image *img, const struct desc *d, const char *what,
		     int *ret_fd, char *err, size_t errlen)
{
	char path[DIGEST_LEN + 16];
	uint64_t size;
	int fd;

	snprintf(path, sizeof(path), "blobs/sha256/%s", d->digest + 7);
	int r = open_regular(img, path, &fd, &size, err, errlen);
	if (r < 0) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", err);
		return blz_errf(err, errlen, r, "%s %s: %s", what, d->digest, msg);
	}
	if (size != d->size) {
		close(fd);
		return blz_errf(err, errlen, -EBADMSG,
				"%s %s: size mismatch: the descriptor says %llu bytes, the blob has %llu",
				what, d->digest, (unsigned long long)d->size,
				(unsigned long long)size);
	}
	*ret_fd = fd;
	return 0;
}

/* Reads and parses a JSON file of the layout (d = NULL) or a blob, verified against d. */
static int load_json(struct blz_oci_image *img, const char *path, const struct desc *d,
		     const char *what, struct blz_json **ret, char *err, size_t errlen)
{
	char where[DIGEST_LEN + 4200], jerr[512];
	uint64_t size;
	int fd, r;

	if (d) {
		snprintf(where, sizeof(where), "%s %s", what, d->digest);
		if (d->size > MAX_JSON)
			return blz_errf(err, errlen, -EFBIG, "%s: too large (%llu bytes)", where,
					(unsigned long long)d->size);
		r = open_blob(img, d, what, &fd, err, errlen);
		size = d->size;
	} else {
		snprintf(where, sizeof(where), "'%s/%s'", img->dir, path);
		r = open_regular(img, path, &fd, &size, err, errlen);
		if (r == 0 && size > MAX_JSON) {
			close(fd);
			return blz_errf(err, errlen, -EFBIG, "%s: too large (%llu bytes)", where,
					(unsigned long long)size);
		}
	}
	if (r < 0)
		return r;

	uint8_t *buf = blz_xmalloc((size_t)size + 1);
	ssize_t n = blz_read_full(fd, buf, (size_t)size + 1);
	close(fd);
	if (n < 0) {
		free(buf);
		return blz_errf(err, errlen, (int)n, "%s: read error: %s", where, strerror((int)-n));
	}
	if ((uint64_t)n != size) {
		free(buf);
		return blz_errf(err, errlen, -EIO, "%s: changed size while being read", where);
	}
	if (d) {
		uint8_t got[BLZ_SHA256_LEN];
		char hex[BLZ_SHA256_HEX_LEN + 1];
		blz_sha256(buf, (size_t)size, got);
		if (memcmp(got, d->hash, sizeof(got))) {
			free(buf);
			blz_hex(got, sizeof(got), hex);
			return blz_errf(err, errlen, -EBADMSG, "%s: digest mismatch (got sha256:%s)",
					where, hex);
		}
	}
	r = blz_json_parse((const char *)buf, (size_t)size, BLZ_JSON_MAX_DEPTH, ret, jerr,
			   sizeof(jerr));
	free(buf);
	if (r < 0)
		return blz_errf(err, errlen, -EBADMSG, "%s: invalid JSON: %s", where, jerr);
	if ((*ret)->type != BLZ_JSON_OBJECT) {
		blz_json_free(*ret);
		*ret = NULL;
		return blz_errf(err, errlen, -EBADMSG, "%s: not a JSON object", where);
	}
	return 0;
}

/* ---- choosing a manifest ---- */

const char *blz_oci_host_platform(void)
{
	static char buf[64];
	struct utsname u;
	const char *arch = "", *variant = "";

	if (buf[0])
		return buf;
	if (uname(&u) == 0)
		arch = u.machine;
	if (!strcmp(arch, "x86_64")) {
		arch = "amd64";
	} else if (!strcmp(arch, "aarch64") || !strcmp(arch, "arm64")) {
		arch = "arm64";
	} else if (!strncmp(arch, "armv", 4)) {
		variant = arch[4] == '6' ? "v6" : arch[4] == '5' ? "v5" : "v7";
		arch = "arm";
	} else if (arch[0] == 'i' && !strcmp(arch + 2, "86")) {
		arch = "386";
	}
	snprintf(buf, sizeof(buf), "linux/%.31s%s%s", arch, *variant ? "/" : "", variant);
	return buf;
}

static int parse_platform(const char *s, struct platform *p)
{
	memset(p, 0, sizeof(*p));
	if (sscanf(s, "%31[^/]/%31[^/]/%31[^/]", p->os, p->arch, p->variant) < 2)
		return -EINVAL;
	size_t slashes = 0;
	for (const char *c = s; *c; c++)
		slashes += *c == '/';
	return slashes <= 2 && !strstr(s, "//") && s[strlen(s) - 1] != '/' ? 0 : -EINVAL;
}

/* arm64's variant is v8 when the index does not say */
static const char *variant_of(const char *arch, const char *variant)
{
	if (variant && *variant)
		return variant;
	return !strcmp(arch, "arm64") ? "v8" : "";
}

/* 0 no match, 1 os and architecture match, 2 the variant too */
static int platform_score(const struct blz_json *m, const struct platform *want)
{
	const struct blz_json *p = blz_json_get(m, "platform");
	const char *os = blz_json_string(blz_json_get(p, "os"));
	const char *arch = blz_json_string(blz_json_get(p, "architecture"));

	if (!os || !arch || strcmp(os, want->os) || strcmp(arch, want->arch))
		return 0;
	const char *v = variant_of(arch, blz_json_string(blz_json_get(p, "variant")));
	return !strcmp(v, variant_of(want->arch, want->variant)) ? 2 : 1;
}

/* "NAME sha256:0123456789ab... linux/amd64" for a candidate in a message */
static void describe(struct blz_buf *b, const struct blz_json *m)
{
	const struct blz_json *p = blz_json_get(m, "platform");
	const char *name = blz_json_string(blz_json_get(blz_json_get(m, "annotations"), REF_NAME));
	const char *dg = blz_json_string(blz_json_get(m, "digest"));
	const char *os = blz_json_string(blz_json_get(p, "os"));
	const char *arch = blz_json_string(blz_json_get(p, "architecture"));
	const char *var = blz_json_string(blz_json_get(p, "variant"));
	char line[400], q1[112], q2[112], q3[112], q4[112], q5[112];

	snprintf(line, sizeof(line), "%s%s%s%.19s%s%s%s%s%s%s", b->len ? "; " : "",
		 name ? printable(q1, name) : "", name ? " " : "", dg ? printable(q2, dg) : "?",
		 dg && strlen(dg) > 19 ? "..." : "", os || arch ? " " : "",
		 os ? printable(q3, os) : "", os || arch ? "/" : "", arch ? printable(q4, arch) : "",
		 var ? "/" : "");
	blz_buf_append(b, line, strlen(line));
	if (var) {
		printable(q5, var);
		blz_buf_append(b, q5, strlen(q5));
	}
}

static void describe_all(struct blz_buf *b, const struct blz_json **c, size_t n)
{
	for (size_t i = 0; i < n && i < MAX_LISTED; i++)
		describe(b, c[i]);
	if (n > MAX_LISTED) {
		char more[32];
		snprintf(more, sizeof(more), "; and %zu more", n - MAX_LISTED);
		blz_buf_append(b, more, strlen(more));
	}
	blz_buf_append(b, "", 1);
}

/*
 * Picks one of the n candidate manifest descriptors c[]: the only one (unless by_platform),
 * else the one that matches the platform (best variant). where: for messages.
 */
static int choose(const struct blz_json **c, size_t n, bool by_platform,
		  const struct platform *pf, const char *pf_text, const char *where,
		  const struct blz_json **ret, char *err, size_t errlen)
{
	const struct blz_json *best = NULL;
	int best_score = 0, nbest = 0;
	struct blz_buf list = { 0 };

	if (n == 1 && !by_platform) {
		*ret = c[0];
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		int s = platform_score(c[i], pf);
		if (s > best_score) {
			best_score = s;
			best = c[i];
			nbest = 1;
		} else if (s && s == best_score) {
			nbest++;
		}
	}
	if (nbest == 1) {
		*ret = best;
		return 0;
	}
	describe_all(&list, c, n);
	int r;
	if (!n)
		r = blz_errf(err, errlen, -ENOENT, "%s lists no manifests", where);
	else if (nbest == 0 && !by_platform)
		r = blz_errf(err, errlen, -EINVAL,
			     "%s lists %zu images and none is for %s; name one as DIR:REF (%s)",
			     where, n, pf_text, (char *)list.data);
	else if (nbest == 0)
		r = blz_errf(err, errlen, -ENOENT, "%s has no image for %s (it has: %s)", where,
			     pf_text, (char *)list.data);
	else
		r = blz_errf(err, errlen, -EINVAL,
			     "%s: %d images match %s; choose one (DIR:REF or --platform): %s",
			     where, nbest, pf_text, (char *)list.data);
	blz_buf_release(&list);
	return r;
}

/* An index (index.json or a blob): its manifests array. */
static int index_manifests(const struct blz_json *idx, const char *where,
			   const struct blz_json **ret, char *err, size_t errlen)
{
	uint64_t v;
	const char *mt = blz_json_string(blz_json_get(idx, "mediaType"));
	const struct blz_json *m = blz_json_get(idx, "manifests");
	char q[112];

	if (blz_json_u64(blz_json_get(idx, "schemaVersion"), &v) < 0 || v != 2)
		return blz_errf(err, errlen, -EBADMSG, "%s: schemaVersion is not 2", where);
	if (mt && strcmp(mt, MT_OCI_INDEX) && strcmp(mt, MT_DOCKER_LIST))
		return blz_errf(err, errlen, -EBADMSG, "%s: unexpected mediaType '%s'", where,
				printable(q, mt));
	if (!m || m->type != BLZ_JSON_ARRAY)
		return blz_errf(err, errlen, -EBADMSG, "%s: no manifests array", where);
	*ret = m;
	return 0;
}

/* Candidates of list (all, or those named ref), then the one to use (see choose()). */
static int pick(const struct blz_json *list, const char *ref, bool by_platform,
		const struct platform *pf, const char *pf_text, const char *where,
		const struct blz_json **ret, char *err, size_t errlen)
{
	VEC(const struct blz_json *) c = { 0 };
	struct blz_buf names = { 0 };
	char q[112];
	int r;

	for (size_t i = 0; i < list->n; i++) {
		const struct blz_json *m = &list->items[i];
		const char *name = blz_json_string(blz_json_get(blz_json_get(m, "annotations"),
								REF_NAME));
		if (!ref || (name && !strcmp(name, ref)))
			vec_push(&c, m);
		if (name) {
			printable(q, name);
			blz_buf_append(&names, names.len ? ", " : "names: ", names.len ? 2 : 7);
			blz_buf_append(&names, q, strlen(q));
		}
	}
	blz_buf_append(&names, "", 1);
	if (ref && !c.len)
		r = blz_errf(err, errlen, -ENOENT, "no image named '%s' in %s (%s)", ref, where,
			     names.len > 1 ? (char *)names.data : "it names none");
	else
		r = choose(c.v, c.len, by_platform, pf, pf_text, where, ret, err, errlen);
	vec_release(&c);
	blz_buf_release(&names);
	return r;
}

/*
 * The manifest to use: from index.json by ref (or the only one), then down nested indexes
 * by platform. The trees ret's media type points into are added to trees.
 */
static int find_manifest(struct blz_oci_image *img, const char *ref, const struct platform *pf,
			 const char *pf_text, struct blz_json ***trees, size_t *ntrees,
			 struct desc *ret, char *err, size_t errlen)
{
	struct blz_json *idx;
	const struct blz_json *list = NULL, *chosen = NULL;
	char where[4200];

	int r = load_json(img, "index.json", NULL, NULL, &idx, err, errlen);
	if (r < 0)
		return r;
	for (int depth = 0;; depth++) {
		*trees = blz_xrealloc(*trees, (*ntrees + 1) * sizeof(**trees));
		(*trees)[(*ntrees)++] = idx;
		if (depth == 0)
			snprintf(where, sizeof(where), "'%s/index.json'", img->dir);
		else
			snprintf(where, sizeof(where), "index %s", ret->digest);
		r = index_manifests(idx, where, &list, err, errlen);
		if (r == 0)
			r = pick(list, depth ? NULL : ref, depth > 0, pf, pf_text, where, &chosen, err,
				 errlen);
		if (r == 0)
			r = parse_desc(chosen, where, ret, err, errlen);
		if (r < 0)
			return r;
		if (!strcmp(ret->media_type, MT_OCI_MANIFEST) ||
		    !strcmp(ret->media_type, MT_DOCKER_MANIFEST))
			return 0;
		char q[112];
		if (strcmp(ret->media_type, MT_OCI_INDEX) && strcmp(ret->media_type, MT_DOCKER_LIST))
			return blz_errf(err, errlen, -EOPNOTSUPP,
					"%s: %s has media type '%s', not an image manifest or index",
					where, ret->digest, printable(q, ret->media_type));
		if (depth == MAX_NESTING)
			return blz_errf(err, errlen, -ELOOP, "index %s: indexes nested too deep",
					ret->digest);
		r = load_json(img, NULL, ret, "index", &idx, err, errlen);
		if (r < 0)
			return r;
	}
}

/* ---- manifest and config ---- */

static int layer_comp(const char *mt, const char *where, enum comp *ret, char *err,
		      size_t errlen)
{
	char q[112];

	for (size_t i = 0; i < sizeof(layer_types) / sizeof(layer_types[0]); i++) {
		if (!strcmp(mt, layer_types[i].type)) {
			*ret = layer_types[i].comp;
			return 0;
		}
	}
	const char *why = strstr(mt, "nondistributable") || strstr(mt, "foreign") ?
		" (non-distributable layers are not supported)" :
		strstr(mt, "encrypted") ? " (encrypted layers are not supported)" : "";
	return blz_errf(err, errlen, -EOPNOTSUPP, "%s: unsupported layer media type '%s'%s", where,
			printable(q, mt), why);
}

static int read_layers(struct blz_oci_image *img, const struct blz_json *manifest,
		       const struct blz_json *config, const char *mwhere, char *err,
		       size_t errlen)
{
	const struct blz_json *layers = blz_json_get(manifest, "layers");
	const struct blz_json *rootfs = blz_json_get(config, "rootfs");
	const struct blz_json *diff_ids = blz_json_get(rootfs, "diff_ids");
	const char *type = blz_json_string(blz_json_get(rootfs, "type"));

	if (!layers || layers->type != BLZ_JSON_ARRAY)
		return blz_errf(err, errlen, -EBADMSG, "%s: no layers array", mwhere);
	if (!type || strcmp(type, "layers") || !diff_ids || diff_ids->type != BLZ_JSON_ARRAY)
		return blz_errf(err, errlen, -EBADMSG,
				"config of %s: no rootfs of type \"layers\" with diff_ids", mwhere);
	if (diff_ids->n != layers->n)
		return blz_errf(err, errlen, -EBADMSG,
				"config of %s: %zu diff_ids for %zu layers", mwhere, diff_ids->n,
				layers->n);
	img->layers = blz_xcalloc(layers->n ? layers->n : 1, sizeof(*img->layers));
	img->nlayers = layers->n;
	for (size_t i = 0; i < layers->n; i++) {
		struct layer_info *li = &img->layers[i];
		struct desc d;
		char where[DIGEST_LEN + 64], dig[DIGEST_LEN + 1];
		int fd;

		snprintf(where, sizeof(where), "layer %zu/%zu", i + 1, layers->n);
		int r = parse_desc(&layers->items[i], where, &d, err, errlen);
		if (r < 0)
			return r;
		snprintf(li->name, sizeof(li->name), "layer %zu/%zu %s", i + 1, layers->n, d.digest);
		r = layer_comp(d.media_type, li->name, &li->comp, err, errlen);
		if (r < 0)
			return r;
		const char *di = blz_json_string(&diff_ids->items[i]);
		snprintf(where, sizeof(where), "%s: diff_id", li->name);
		if (!di)
			return blz_errf(err, errlen, -EBADMSG, "%s is not a string", where);
		r = parse_digest(di, where, dig, li->diff_id, err, errlen);
		if (r < 0)
			return r;
		memcpy(li->digest, d.digest, sizeof(li->digest));
		memcpy(li->hash, d.hash, sizeof(li->hash));
		li->size = d.size;
		li->media_type = blz_xstrdup(d.media_type);
		/* every blob there, of the right size, before any is read */
		snprintf(where, sizeof(where), "layer %zu/%zu", i + 1, layers->n);
		r = open_blob(img, &d, where, &fd, err, errlen);
		if (r < 0)
			return r;
		close(fd);
	}
	return 0;
}

static void split_spec(const char *spec, char **dir, char **ref)
{
	const char *colon = strrchr(spec, ':');
	char *layout = NULL;
	struct stat st;

	*ref = NULL;
	*dir = blz_xstrdup(spec);
	if (asprintf(&layout, "%s/oci-layout", spec) > 0 && stat(layout, &st) == 0) {
		free(layout);
		return;
	}
	free(layout);
	if (colon && colon[1] && colon > spec) {
		(*dir)[colon - spec] = '\0';
		*ref = blz_xstrdup(colon + 1);
	}
}

int blz_oci_open(struct blz_oci_image **ret, const char *spec, const char *platform, char *err,
		 size_t errlen)
{
	struct blz_oci_image *img = blz_xcalloc(1, sizeof(*img));
	struct blz_json *layout = NULL, *manifest = NULL, *config = NULL, **trees = NULL;
	size_t ntrees = 0;
	struct platform pf;
	struct desc md, cd;
	char *ref, mwhere[DIGEST_LEN + 16], q[112];
	uint64_t v;
	int r;

	*ret = NULL;
	img->dirfd = -1;
	split_spec(spec, &img->dir, &ref);
	if (!platform)
		platform = blz_oci_host_platform();
	if (parse_platform(platform, &pf) < 0) {
		r = blz_errf(err, errlen, -EINVAL, "invalid platform '%s' (want OS/ARCH[/VARIANT])",
			     printable(q, platform));
		goto out;
	}
	img->dirfd = open(img->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (img->dirfd < 0) {
		r = blz_errf(err, errlen, -errno, "cannot open the image layout '%s': %s", img->dir,
			     strerror(errno));
		goto out;
	}
	r = load_json(img, "oci-layout", NULL, NULL, &layout, err, errlen);
	if (r < 0)
		goto out;
	const char *ver = blz_json_string(blz_json_get(layout, "imageLayoutVersion"));
	if (!ver || strncmp(ver, "1.", 2)) {
		r = blz_errf(err, errlen, -EOPNOTSUPP,
			     "'%s/oci-layout': unsupported imageLayoutVersion '%s' (want 1.x)",
			     img->dir, ver ? printable(q, ver) : "");
		goto out;
	}

	r = find_manifest(img, ref, &pf, platform, &trees, &ntrees, &md, err, errlen);
	if (r < 0)
		goto out;
	r = load_json(img, NULL, &md, "manifest", &manifest, err, errlen);
	if (r < 0)
		goto out;
	snprintf(mwhere, sizeof(mwhere), "manifest %s", md.digest);
	const char *mt = blz_json_string(blz_json_get(manifest, "mediaType"));
	if (blz_json_u64(blz_json_get(manifest, "schemaVersion"), &v) < 0 || v != 2) {
		r = blz_errf(err, errlen, -EBADMSG, "%s: schemaVersion is not 2", mwhere);
		goto out;
	}
	if (mt && strcmp(mt, md.media_type)) {
		r = blz_errf(err, errlen, -EBADMSG, "%s: its mediaType '%s' is not the index's '%s'",
			     mwhere, printable(q, mt), md.media_type);
		goto out;
	}
	r = parse_desc(blz_json_get(manifest, "config"), "config", &cd, err, errlen);
	if (r < 0)
		goto out;
	if (strcmp(cd.media_type, MT_OCI_CONFIG) && strcmp(cd.media_type, MT_DOCKER_CONFIG)) {
		r = blz_errf(err, errlen, -EOPNOTSUPP,
			     "%s is not a container image (config media type '%s')", mwhere,
			     printable(q, cd.media_type));
		goto out;
	}
	r = load_json(img, NULL, &cd, "config", &config, err, errlen);
	if (r < 0)
		goto out;
	r = read_layers(img, manifest, config, mwhere, err, errlen);
	if (r < 0)
		goto out;
	memcpy(img->manifest_digest, md.digest, sizeof(md.digest));
	*ret = img;
	img = NULL;
out:
	for (size_t i = 0; i < ntrees; i++)
		blz_json_free(trees[i]);
	free(trees);
	blz_json_free(layout);
	blz_json_free(manifest);
	blz_json_free(config);
	free(ref);
	blz_oci_close(img);
	return r;
}

void blz_oci_close(struct blz_oci_image *img)
{
	if (!img)
		return;
	for (size_t i = 0; i < img->nlayers; i++)
		free(img->layers[i].media_type);
	free(img->layers);
	if (img->dirfd >= 0)
		close(img->dirfd);
	free(img->dir);
	free(img);
}

size_t blz_oci_layer_count(const struct blz_oci_image *img)
{
	return img->nlayers;
}

const char *blz_oci_manifest_digest(const struct blz_oci_image *img)
{
	return img->manifest_digest;
}

/* ---- streaming a layer ---- */

int blz_oci_layer_open(struct blz_oci_image *img, size_t i, struct blz_oci_layer **ret,
		       char *err, size_t errlen)
{
	const struct layer_info *li = &img->layers[i];
	struct desc d = { .media_type = li->media_type, .size = li->size };
	int fd;

	memcpy(d.digest, li->digest, sizeof(d.digest));
	memcpy(d.hash, li->hash, sizeof(d.hash));
	char what[32];
	snprintf(what, sizeof(what), "layer %zu/%zu", i + 1, img->nlayers);
	int r = open_blob(img, &d, what, &fd, err, errlen);
	if (r < 0)
		return r;
	struct blz_oci_layer *l = blz_xcalloc(1, sizeof(*l));
	l->li = li;
	l->fd = fd;
	blz_sha256_init(&l->raw);
	blz_sha256_init(&l->dec);
	*ret = l;
	return 0;
}

int blz_oci_layer_fd(const struct blz_oci_layer *l)
{
	return l->fd;
}

const char *blz_oci_layer_name(const struct blz_oci_layer *l)
{
	return l->li->name;
}

void blz_oci_observe_raw(void *ctx, const void *buf, size_t len)
{
	struct blz_oci_layer *l = ctx;
	size_t m = len < sizeof(l->magic) - l->nmagic ? len : sizeof(l->magic) - l->nmagic;

	memcpy(l->magic + l->nmagic, buf, m);
	l->nmagic += m;
	l->raw_len += len;
	blz_sha256_update(&l->raw, buf, len);
}

void blz_oci_observe_decoded(void *ctx, const void *buf, size_t len)
{
	struct blz_oci_layer *l = ctx;

	blz_sha256_update(&l->dec, buf, len);
}

static enum comp detect(const struct blz_oci_layer *l)
{
	if (l->nmagic >= 2 && l->magic[0] == 0x1f && l->magic[1] == 0x8b)
		return COMP_GZIP;
	if (l->nmagic >= 4 && !memcmp(l->magic, "\x28\xb5\x2f\xfd", 4))
		return COMP_ZSTD;
	return COMP_NONE;
}

int blz_oci_layer_verify(struct blz_oci_layer *l, bool complete, char *err, size_t errlen)
{
	const struct layer_info *li = l->li;
	uint8_t got[BLZ_SHA256_LEN];
	char hex[BLZ_SHA256_HEX_LEN + 1];

	if (!complete) {
		/* what the reader left: so that the digest covers the whole blob */
		uint8_t *buf = blz_xmalloc(1 << 20);
		ssize_t n;
		while ((n = read(l->fd, buf, 1 << 20)) > 0 || (n < 0 && errno == EINTR))
			if (n > 0)
				blz_oci_observe_raw(l, buf, (size_t)n);
		int e = errno;
		free(buf);
		if (n < 0)
			return blz_errf(err, errlen, -e, "%s: read error: %s", li->name, strerror(e));
	}
	if (l->raw_len != li->size)
		return blz_errf(err, errlen, -EBADMSG,
				"%s: size mismatch: read %llu bytes, the manifest says %llu", li->name,
				(unsigned long long)l->raw_len, (unsigned long long)li->size);
	blz_sha256_final(&l->raw, got);
	if (memcmp(got, li->hash, sizeof(got))) {
		blz_hex(got, sizeof(got), hex);
		return blz_errf(err, errlen, -EBADMSG, "%s: digest mismatch (got sha256:%s)",
				li->name, hex);
	}
	if (!complete)
		return 0;
	if (detect(l) != li->comp)
		return blz_errf(err, errlen, -EBADMSG,
				"%s: the media type '%s' says %s, but the data is %s", li->name,
				li->media_type, comp_name[li->comp], comp_name[detect(l)]);
	blz_sha256_final(&l->dec, got);
	if (memcmp(got, li->diff_id, sizeof(got))) {
		char want[BLZ_SHA256_HEX_LEN + 1];
		blz_hex(got, sizeof(got), hex);
		blz_hex(li->diff_id, sizeof(li->diff_id), want);
		return blz_errf(err, errlen, -EBADMSG,
				"%s: diff_id mismatch: the uncompressed layer is sha256:%s, the config says sha256:%s",
				li->name, hex, want);
	}
	return 0;
}

void blz_oci_layer_close(struct blz_oci_layer *l)
{
	if (!l)
		return;
	close(l->fd);
	free(l);
}
