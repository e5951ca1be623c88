/*
 * The OCI image-layout reader (lib/oci/oci.h) on a layout written from the input, then every
 * layer read through the tar reader with the digest observers and verified, as mkseed does.
 *
 * Input: oci-layout, index.json, the manifest and the config, each ended by a NUL byte (JSON
 * has none), then the one layer blob (the rest of the input). So that mutations get past the
 * digests, the harness stores the blobs under their real sha256 names and replaces in the
 * JSON texts: $L/$l the layer's digest ("sha256:...") and size, $C/$c the config's, $M/$m
 * the manifest's.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "oci/oci.h"
#include "tar/tar.h"
#include "util/fileio.h"
#include "util/sha256.h"
#include "util/strbuf.h"

struct blob {
	char digest[8 + BLZ_SHA256_HEX_LEN + 1]; /* "sha256:<hex>" */
	char size[24];
};

static void name_blob(struct blob *b, const void *data, size_t len)
{
	uint8_t d[BLZ_SHA256_LEN];
	blz_sha256(data, len, d);
	memcpy(b->digest, "sha256:", 7);
	blz_hex(d, sizeof(d), b->digest + 7);
	snprintf(b->size, sizeof(b->size), "%zu", len);
}

/* Copies text with $X placeholders replaced (letters of which bs[] knows). */
static void subst(struct blz_buf *out, const uint8_t *text, size_t len, const struct blob *layer,
		  const struct blob *config, const struct blob *manifest)
{
	for (size_t i = 0; i < len; i++) {
		const struct blob *b = NULL;
		bool size = false;
		if (text[i] == '$' && i + 1 < len) {
			switch (text[i + 1]) {
			case 'l': size = true; /* fall through */
			case 'L': b = layer; break;
			case 'c': size = true; /* fall through */
			case 'C': b = config; break;
			case 'm': size = true; /* fall through */
			case 'M': b = manifest; break;
			}
		}
		if (!b) {
			blz_buf_append(out, text + i, 1);
			continue;
		}
		const char *s = size ? b->size : b->digest;
		blz_buf_append(out, s, strlen(s));
		i++;
	}
}

static char dir[300], blobs[350];
static char written[3][sizeof(((struct blob *)0)->digest)];

static void put_file(const char *d, const char *name, const void *data, size_t len)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", d, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (len && blz_write_full(fd, data, len) < 0))
		abort();
	close(fd);
}

static void put_blob(int i, const struct blob *b, const void *data, size_t len)
{
	snprintf(written[i], sizeof(written[i]), "%s", b->digest + 7);
	put_file(blobs, written[i], data, len);
}

/* Splits off the next NUL-ended part; the last part is the rest. */
static const uint8_t *part(const uint8_t **p, const uint8_t *end, size_t *len)
{
	const uint8_t *s = *p, *nul = memchr(s, 0, (size_t)(end - s));
	*len = (size_t)((nul ? nul : end) - s);
	*p = nul ? nul + 1 : end;
	return s;
}

static void read_layers(struct blz_oci_image *img)
{
	static uint8_t buf[65536];
	char err[512];
	for (size_t i = 0; i < blz_oci_layer_count(img); i++) {
		struct blz_oci_layer *l;
		if (blz_oci_layer_open(img, i, &l, err, sizeof(err)) < 0)
			return;
		(void)blz_oci_layer_name(l);
		struct blz_tar_observers obs = { blz_oci_observe_raw, blz_oci_observe_decoded, l };
		struct blz_tar *t;
		bool complete = false;
		if (blz_tar_open_observed(&t, blz_oci_layer_fd(l), &obs) == 0) {
			const struct blz_tar_entry *e;
			int r;
			while ((r = blz_tar_next(t, &e)) > 0)
				while (blz_tar_read(t, buf, sizeof(buf)) > 0)
					;
			complete = r == 0 && blz_tar_drain(t) == 0;
			blz_tar_close(t);
		}
		(void)blz_oci_layer_verify(l, complete, err, sizeof(err));
		blz_oci_layer_close(l);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/oci", fuzz_tmpdir());
		snprintf(blobs, sizeof(blobs), "%s/blobs", dir);
		if (mkdir(dir, 0700) < 0 || mkdir(blobs, 0700) < 0)
			abort();
		snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", dir);
		if (mkdir(blobs, 0700) < 0)
			abort();
	}
	for (int i = 0; i < 3; i++) {
		if (written[i][0]) {
			char path[512];
			snprintf(path, sizeof(path), "%s/%s", blobs, written[i]);
			unlink(path);
			written[i][0] = 0;
		}
	}
	const uint8_t *p = data, *end = data + size;
	size_t nl, ni, nm, nc, nb;
	const uint8_t *layout = part(&p, end, &nl), *index = part(&p, end, &ni);
	const uint8_t *manifest = part(&p, end, &nm), *config = part(&p, end, &nc);
	const uint8_t *layer = part(&p, end, &nb);
	nb = (size_t)(end - layer); /* the layer may hold NULs: it is all the rest */

	struct blob lb, cb, mb;
	struct blz_buf c = { 0 }, m = { 0 }, ix = { 0 };
	name_blob(&lb, layer, nb);
	put_blob(0, &lb, layer, nb);
	subst(&c, config, nc, &lb, NULL, NULL);
	name_blob(&cb, c.data, c.len);
	put_blob(1, &cb, c.data, c.len);
	subst(&m, manifest, nm, &lb, &cb, NULL);
	name_blob(&mb, m.data, m.len);
	put_blob(2, &mb, m.data, m.len);
	subst(&ix, index, ni, &lb, &cb, &mb);
	put_file(dir, "oci-layout", layout, nl);
	put_file(dir, "index.json", ix.data, ix.len);
	blz_buf_release(&c);
	blz_buf_release(&m);
	blz_buf_release(&ix);

	struct blz_oci_image *img;
	char err[512];
	if (blz_oci_open(&img, dir, "linux/amd64", err, sizeof(err)) == 0) {
		(void)blz_oci_manifest_digest(img);
		read_layers(img);
		blz_oci_close(img);
	}
	return 0;
}
