/*
 * Unit tests for lib/oci: image layouts written here into a temporary directory (blobs
 * named by their SHA-256), then opened, chosen among and streamed the way mkseed does it
 * (the layer bytes fed to the observers by hand, as the tar reader would).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci.h"
#include "util/sha256.h"
#include "util/strbuf.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_TAR "application/vnd.oci.image.layer.v1.tar"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

static char dir[64];

static void put_file(const char *name, const void *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	if (n)
		assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Stores a blob; its descriptor (with extra JSON members) goes to desc. */
static void blob(const char *mt, const void *p, size_t n, const char *extra, char *desc,
		 size_t desclen)
{
	uint8_t h[BLZ_SHA256_LEN];
	char hex[BLZ_SHA256_HEX_LEN + 1], name[128];

	blz_sha256(p, n, h);
	blz_hex(h, sizeof(h), hex);
	snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
	put_file(name, p, n);
	snprintf(desc, desclen, "{\"mediaType\":\"%s\",\"digest\":\"sha256:%s\",\"size\":%zu%s%s}",
		 mt, hex, n, extra ? "," : "", extra ? extra : "");
}

static void blob_str(const char *mt, const char *s, const char *extra, char *desc)
{
	blob(mt, s, strlen(s), extra, desc, 1024);
}

static void digest_of(const void *p, size_t n, char out[72])
{
	uint8_t h[BLZ_SHA256_LEN];
	char hex[BLZ_SHA256_HEX_LEN + 1];

	blz_sha256(p, n, h);
	blz_hex(h, sizeof(h), hex);
	snprintf(out, 72, "sha256:%s", hex);
}

static const char layer1[] = "the first layer's bytes (a tar, as far as lib/oci cares)";
static const char layer2[] = "\x1f\x8b the second layer, gzip by its magic";
static const char layer2_decoded[] = "what the second layer decompresses to";

/*
 * A manifest of the two layers and a config that mentions label; its descriptor (with
 * extra) into desc, its digest into digest (if not NULL).
 */
static void image(const char *label, const char *extra, char *desc, char *digest)
{
	char l1[1024], l2[1024], cfg[1024], d1[72], d2[72], text[4096];

	blob_str(MT_TAR, layer1, NULL, l1);
	blob(MT_GZIP, layer2, sizeof(layer2) - 1, NULL, l2, sizeof(l2));
	digest_of(layer1, strlen(layer1), d1);
	digest_of(layer2_decoded, strlen(layer2_decoded), d2);
	snprintf(text, sizeof(text),
		 "{\"author\":\"%s\",\"architecture\":\"amd64\",\"os\":\"linux\","
		 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}", label, d1, d2);
	blob_str(MT_CONFIG, text, NULL, cfg);
	snprintf(text, sizeof(text),
		 "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,\"layers\":[%s,%s]}",
		 MT_MANIFEST, cfg, l1, l2);
	blob_str(MT_MANIFEST, text, extra, desc);
	if (digest)
		digest_of(text, strlen(text), digest);
}

static void layout(const char *manifests)
{
	char text[8192];

	put_file("oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"manifests\":[%s]}", manifests);
	put_file("index.json", text, strlen(text));
}

static int setup(void **state)
{
	char path[128];

	snprintf(dir, sizeof(dir), "/tmp/test_oci.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/blobs", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct blz_oci_image *open_ok(const char *spec, const char *platform)
{
	struct blz_oci_image *img;
	char err[2048];
	int r = blz_oci_open(&img, spec, platform, err, sizeof(err));

	if (r)
		print_error("%s: %s\n", spec, err);
	assert_int_equal(r, 0);
	return img;
}

static void open_bad(const char *spec, const char *platform, const char *needle)
{
	struct blz_oci_image *img = (struct blz_oci_image *)1;
	char err[2048] = "";
	int r = blz_oci_open(&img, spec, platform, err, sizeof(err));

	if (r >= 0 || !strstr(err, needle))
		print_error("%s: got %d '%s', want '%s'\n", spec, r, err, needle);
	assert_true(r < 0);
	assert_non_null(strstr(err, needle));
	assert_null(img);
}

/* Streams layer i: its raw bytes (cut after keep bytes, the rest left to verify), the
 * decoded bytes given; returns verify's result. */
static int stream(struct blz_oci_image *img, size_t i, size_t keep, const char *decoded,
		  char *err, size_t errlen)
{
	struct blz_oci_layer *l;
	uint8_t buf[4096];
	ssize_t n;
	size_t got = 0;

	assert_int_equal(blz_oci_layer_open(img, i, &l, err, errlen), 0);
	while (got < keep && (n = read(blz_oci_layer_fd(l), buf, 1)) > 0) {
		blz_oci_observe_raw(l, buf, (size_t)n);
		got += (size_t)n;
	}
	bool complete = keep == SIZE_MAX;
	if (complete && decoded)
		blz_oci_observe_decoded(l, decoded, strlen(decoded));
	int r = blz_oci_layer_verify(l, complete, err, errlen);
	blz_oci_layer_close(l);
	return r;
}

static void test_open_and_stream(void **state)
{
	char m[1024], err[2048], spec[128];
	struct blz_oci_layer *l;

	image("a", "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}", m, NULL);
	layout(m);
	struct blz_oci_image *img = open_ok(dir, NULL);
	assert_int_equal(blz_oci_layer_count(img), 2);
	assert_int_equal(strncmp(blz_oci_manifest_digest(img), "sha256:", 7), 0);
	assert_int_equal(stream(img, 0, SIZE_MAX, layer1, err, sizeof(err)), 0);
	assert_int_equal(stream(img, 1, SIZE_MAX, layer2_decoded, err, sizeof(err)), 0);
	assert_int_equal(blz_oci_layer_open(img, 0, &l, err, sizeof(err)), 0);
	assert_non_null(strstr(blz_oci_layer_name(l), "layer 1/2 sha256:"));
	assert_int_equal(strlen(blz_oci_layer_name(l)), strlen("layer 1/2 sha256:") + 64);
	blz_oci_layer_close(l);

	/* the decoded bytes are not what the config's diff_id says */
	assert_int_equal(stream(img, 1, SIZE_MAX, "other", err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "layer 2/2 sha256:"));
	assert_non_null(strstr(err, ": diff_id mismatch: the uncompressed layer is sha256:"));
	/* a reader that stopped early: the rest is read, the digest is right (0: the caller
	 * reports the reader's error) */
	assert_int_equal(stream(img, 0, 5, NULL, err, sizeof(err)), 0);

	/* the layer blob changed after open: bytes of the same size, then the size */
	char d1[72], name[128], changed[sizeof(layer1)];
	digest_of(layer1, strlen(layer1), d1);
	snprintf(name, sizeof(name), "blobs/sha256/%s", d1 + 7);
	memcpy(changed, layer1, sizeof(layer1));
	changed[3] ^= 1;
	put_file(name, changed, strlen(changed));
	assert_int_equal(stream(img, 0, SIZE_MAX, layer1, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "layer 1/2 sha256:"));
	assert_non_null(strstr(err, ": digest mismatch (got sha256:"));
	assert_int_equal(stream(img, 0, 7, NULL, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, ": digest mismatch (got sha256:"));
	put_file(name, layer1, strlen(layer1) - 1);
	assert_int_equal(blz_oci_layer_open(img, 0, &l, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "size mismatch: the descriptor says 56 bytes, the blob has 55"));
	blz_oci_close(img);
	/* ...and so is refused at open, before any layer is read */
	open_bad(dir, NULL, "layer 1/2 sha256:");
	open_bad(dir, NULL, ": size mismatch");
	put_file(name, layer1, strlen(layer1));

	/* by name; a name that is not there */
	snprintf(spec, sizeof(spec), "%s:v1", dir);
	blz_oci_close(open_ok(spec, NULL));
	snprintf(spec, sizeof(spec), "%s:v2", dir);
	open_bad(spec, NULL, "no image named 'v2' in");
	open_bad(spec, NULL, "(names: v1)");
	open_bad(dir, "linux", "invalid platform 'linux'");
	open_bad(dir, "linux/amd64/v1/x", "invalid platform");
	open_bad(dir, "linux//amd64", "invalid platform");
	open_bad("/nonexistent/layout", NULL, "cannot open the image layout '/nonexistent/layout'");
}

static void test_compression_check(void **state)
{
	char l1[1024], cfg[1024], m[1024], text[4096], d1[72], err[2048];

	/* gzip bytes under the plain tar media type (Docker's manifest media type) */
	blob(MT_TAR, layer2, sizeof(layer2) - 1, NULL, l1, sizeof(l1));
	digest_of(layer2_decoded, strlen(layer2_decoded), d1);
	snprintf(text, sizeof(text), "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}", d1);
	blob_str("application/vnd.docker.container.image.v1+json", text, NULL, cfg);
	snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s]}", cfg, l1);
	blob_str("application/vnd.docker.distribution.manifest.v2+json", text, NULL, m);
	layout(m);
	struct blz_oci_image *img = open_ok(dir, NULL);
	assert_int_equal(stream(img, 0, SIZE_MAX, layer2_decoded, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "says uncompressed, but the data is gzip"));
	blz_oci_close(img);
}

static void expect_manifest(const char *spec, const char *platform, const char *digest)
{
	struct blz_oci_image *img = open_ok(spec, platform);

	assert_string_equal(blz_oci_manifest_digest(img), digest);
	blz_oci_close(img);
}

static void test_choose(void **state)
{
	char arm[1024], amd[1024], amd2[1024], d_arm[72], d_amd[72], idx[1024], text[4096];
	char spec[128];

	image("arm", "\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}", arm, d_arm);
	image("amd", "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}", amd, d_amd);
	image("amd2", "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}", amd2, NULL);

	/* two images in index.json: by platform; the variant only breaks ties */
	snprintf(text, sizeof(text), "%s,%s", arm, amd);
	layout(text);
	expect_manifest(dir, "linux/amd64", d_amd);
	expect_manifest(dir, "linux/arm64", d_arm);
	expect_manifest(dir, "linux/arm64/v8", d_arm);
	expect_manifest(dir, "linux/arm64/v9", d_arm);
	open_bad(dir, "linux/riscv64",
		 "lists 2 images and none is for linux/riscv64; name one as DIR:REF (sha256:");
	open_bad(dir, "linux/riscv64", "... linux/arm64; sha256:");
	/* two for the same platform */
	snprintf(text, sizeof(text), "%s,%s,%s", arm, amd, amd2);
	layout(text);
	open_bad(dir, "linux/amd64", "2 images match linux/amd64; choose one");
	layout("");
	open_bad(dir, NULL, "lists no manifests");

	/* a nested index, named in index.json */
	snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s]}",
		 MT_INDEX, arm, amd);
	blob_str(MT_INDEX, text, "\"annotations\":{\"org.opencontainers.image.ref.name\":\"multi\"}",
		 idx);
	layout(idx);
	snprintf(spec, sizeof(spec), "%s:multi", dir);
	expect_manifest(spec, "linux/arm64", d_arm);
	expect_manifest(dir, "linux/amd64", d_amd);
	open_bad(spec, "linux/s390x", "has no image for linux/s390x (it has: sha256:");
	/* within an index, even a single manifest must be for the platform */
	snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"manifests\":[%s]}", arm);
	blob_str(MT_INDEX, text, NULL, idx);
	layout(idx);
	open_bad(dir, "linux/amd64", "has no image for linux/amd64");
	/* but the only one in index.json is taken whatever its platform */
	layout(arm);
	expect_manifest(dir, "linux/amd64", d_arm);
	/* indexes nested five deep */
	char inner[1024];
	snprintf(inner, sizeof(inner), "%s", amd);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"manifests\":[%s]}", inner);
		blob_str(MT_INDEX, text,
			 "\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}", inner);
	}
	layout(inner);
	open_bad(dir, "linux/amd64", "indexes nested too deep");
}

/* index.json with one descriptor (mt, digest text, size text) */
static void index_with(const char *mt, const char *digest, const char *size)
{
	char text[1024];

	snprintf(text, sizeof(text), "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%s}", mt,
		 digest, size);
	layout(text);
}

/* A manifest (its JSON given) over a config (JSON given) and the two layers as descriptors
 * with the given media types. */
static void manifest_with(const char *config, const char *mt1, const char *mt2)
{
	char l1[1024], l2[1024], cfg[1024], m[1024], text[4096];

	blob_str(mt1, layer1, NULL, l1);
	blob(mt2, layer2, sizeof(layer2) - 1, NULL, l2, sizeof(l2));
	blob_str(MT_CONFIG, config, NULL, cfg);
	snprintf(text, sizeof(text), "{\"schemaVersion\":2,\"config\":%s,\"layers\":[%s,%s]}", cfg,
		 l1, l2);
	blob_str(MT_MANIFEST, text, NULL, m);
	layout(m);
}

static void test_bad_layouts(void **state)
{
	char m[1024], d[72], path[512], name[128];
	const char *zero = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	const char *two = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:"
			  "0000000000000000000000000000000000000000000000000000000000000000\",\"sha256:"
			  "0000000000000000000000000000000000000000000000000000000000000000\"]}}";

	open_bad(dir, NULL, "cannot open '");
	open_bad(dir, NULL, "/oci-layout': No such file or directory");
	put_file("oci-layout", "{\"imageLayoutVersion\":\"2.0.0\"}", 30);
	open_bad(dir, NULL, "unsupported imageLayoutVersion '2.0.0' (want 1.x)");
	image("x", NULL, m, d);
	layout(m);
	put_file("index.json", "[]", 2);
	open_bad(dir, NULL, "/index.json': not a JSON object");
	put_file("index.json", "{\"schemaVersion\":1,\"manifests\":[]}", 34);
	open_bad(dir, NULL, "schemaVersion is not 2");
	put_file("index.json", "{\"schemaVersion\":2}", 19);
	open_bad(dir, NULL, "no manifests array");
	put_file("index.json", "{\"schemaVersion\":2,\"manifests\":[1]}", 35);
	open_bad(dir, NULL, "the descriptor is not an object");

	/* descriptors */
	index_with(MT_MANIFEST, d, "-1");
	open_bad(dir, NULL, "the descriptor has no valid size");
	index_with(MT_MANIFEST, d, "1.5");
	open_bad(dir, NULL, "the descriptor has no valid size");
	layout("{\"digest\":\"sha256:00\",\"size\":1}");
	open_bad(dir, NULL, "the descriptor has no mediaType");
	layout("{\"mediaType\":\"x\",\"size\":1}");
	open_bad(dir, NULL, "the descriptor has no digest");
	index_with(MT_MANIFEST, "sha256:../../../etc/passwd", "1");
	open_bad(dir, NULL, "invalid digest 'sha256:../../../etc/passwd'");
	index_with(MT_MANIFEST, "sha256:0000000000000000000000000000000000000000000000000000000000000ABC", "1");
	open_bad(dir, NULL, "invalid digest");
	index_with(MT_MANIFEST, "sha256:000", "1");
	open_bad(dir, NULL, "invalid digest");
	index_with(MT_MANIFEST, "sha512:abc", "1");
	open_bad(dir, NULL, "unsupported digest algorithm in 'sha512:abc' (only sha256)");
	index_with(MT_MANIFEST, "SHA256:abc", "1");
	open_bad(dir, NULL, "invalid digest 'SHA256:abc'");
	index_with(MT_MANIFEST, "\\u001b[31mred", "1");
	open_bad(dir, NULL, "invalid digest '?[31mred'");
	index_with(MT_MANIFEST, zero, "10");
	open_bad(dir, NULL, "manifest sha256:0000000000000000000000000000000000000000000000000000000000000000: cannot open '");
	open_bad(dir, NULL, ": No such file or directory");
	index_with(MT_MANIFEST, d, "50000000");
	open_bad(dir, NULL, "too large (50000000 bytes)");
	index_with("application/vnd.oci.image.layer.v1.tar", d, "10");
	open_bad(dir, NULL, "has media type 'application/vnd.oci.image.layer.v1.tar', not an image manifest or index");

	/* blobs that are not regular files: a FIFO must not block the open, nor a directory */
	index_with(MT_MANIFEST, zero, "10");
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, zero + 7);
	assert_int_equal(mkfifo(path, 0644), 0);
	open_bad(dir, NULL, "is not a regular file");
	unlink(path);
	assert_int_equal(mkdir(path, 0755), 0);
	open_bad(dir, NULL, "is not a regular file");
	rmdir(path);

	/* manifests */
	snprintf(name, sizeof(name), "blobs/sha256/%s", d + 7);
	put_file(name, "{\"schemaVersion\":2,\"mediaType\":\"x\"}", 35);
	layout(m);
	open_bad(dir, NULL, "size mismatch");
	image("x", NULL, m, d);
	layout(m);
	char bad[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	size_t n = fread(bad, 1, sizeof(bad), f);
	bad[2] ^= 1; /* "schemaVersion" -> "rchemaVersion" */
	rewind(f);
	assert_int_equal(fwrite(bad, 1, n, f), n);
	fclose(f);
	open_bad(dir, NULL, ": digest mismatch (got sha256:");
	char mj[1024];
	blob_str(MT_MANIFEST, "{\"schemaVersion\":2,\"mediaType\":\"" MT_INDEX "\"}", NULL, mj);
	layout(mj);
	open_bad(dir, NULL, "its mediaType 'application/vnd.oci.image.index.v1+json' is not the index's");
	blob_str(MT_MANIFEST, "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
		 "\"application/vnd.oci.empty.v1+json\",\"digest\":\"sha256:"
		 "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a\",\"size\":2},"
		 "\"layers\":[]}", NULL, mj);
	layout(mj);
	open_bad(dir, NULL, "is not a container image (config media type 'application/vnd.oci.empty.v1+json')");
	blob_str(MT_MANIFEST, "{\"schemaVersion\":2,\"layers\":[]}", NULL, mj);
	layout(mj);
	open_bad(dir, NULL, "config: the descriptor is not an object");

	/* configs and layers */
	manifest_with("{}", MT_TAR, MT_GZIP);
	open_bad(dir, NULL, "no rootfs of type \"layers\" with diff_ids");
	manifest_with("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", MT_TAR, MT_GZIP);
	open_bad(dir, NULL, "0 diff_ids for 2 layers");
	manifest_with("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[1,2]}}", MT_TAR, MT_GZIP);
	open_bad(dir, NULL, "layer 1/2 sha256:");
	open_bad(dir, NULL, ": diff_id is not a string");
	manifest_with("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"md5:00\",\"x\"]}}", MT_TAR,
		      MT_GZIP);
	open_bad(dir, NULL, "diff_id: unsupported digest algorithm in 'md5:00'");
	manifest_with(two, MT_TAR, "application/x-foo");
	open_bad(dir, NULL, "layer 2/2 sha256:");
	open_bad(dir, NULL, ": unsupported layer media type 'application/x-foo'");
	manifest_with(two, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", MT_GZIP);
	open_bad(dir, NULL, "(non-distributable layers are not supported)");
	manifest_with(two, "application/vnd.oci.image.layer.v1.tar+encrypted", MT_GZIP);
	open_bad(dir, NULL, "(encrypted layers are not supported)");
	manifest_with(two, "application/vnd.oci.image.layer.v1.tar+zstd", MT_GZIP);
	blz_oci_close(open_ok(dir, NULL)); /* the compression is checked when streamed */
	/* a missing layer blob is found at open */
	char d1[72];
	digest_of(layer1, strlen(layer1), d1);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, d1 + 7);
	unlink(path);
	open_bad(dir, NULL, "layer 1/2 sha256:");
	open_bad(dir, NULL, ": cannot open '");
}

static int setup_test(void **state)
{
	teardown(state);
	return setup(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_open_and_stream, setup_test),
		cmocka_unit_test_setup(test_compression_check, setup_test),
		cmocka_unit_test_setup(test_choose, setup_test),
		cmocka_unit_test_setup(test_bad_layouts, setup_test),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
