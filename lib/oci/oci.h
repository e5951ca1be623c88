/*
 * OCI image layouts (image-spec: image-layout, image-index, manifest, descriptor, config)
 * as a source of tar layers for mkseed, with every byte verified against its digest.
 *
 * blz_oci_open() reads DIR/oci-layout and DIR/index.json, chooses one image (by its
 * org.opencontainers.image.ref.name annotation, else the only one, else by platform;
 * nested indexes by platform), and reads its manifest and config blobs, each checked
 * against the size and SHA-256 digest of the descriptor that names it. It checks every
 * layer's descriptor (media type, digest syntax), that its blob is a regular file of the
 * size the manifest gives, and that the config has one diff_id per layer, before any layer
 * is read. A layer is then streamed through the tar reader (lib/tar) with the two observer
 * functions below, which hash its raw and its decompressed bytes; blz_oci_layer_verify()
 * compares them with the manifest's digest and the config's diff_id.
 *
 * Errors: -errno with a message in err that names the file or the blob ("layer 2/3
 * sha256:...: digest mismatch (got sha256:...)"). Only sha256 digests are supported.
 */
#ifndef BLZ_OCI_OCI_H
#define BLZ_OCI_OCI_H

#include <stdbool.h>
#include <stddef.h>

struct blz_oci_image;
struct blz_oci_layer;

/*
 * Opens the image spec = "DIR" or "DIR:REF" (when DIR itself holds no oci-layout, the text
 * after the last ':' is REF). platform = "OS/ARCH[/VARIANT]" for choosing among the
 * manifests of an index, NULL for this machine's (blz_oci_host_platform()).
 */
int blz_oci_open(struct blz_oci_image **ret, const char *spec, const char *platform, char *err,
		 size_t errlen);
void blz_oci_close(struct blz_oci_image *img);

size_t blz_oci_layer_count(const struct blz_oci_image *img);
/* "sha256:..." of the chosen manifest */
const char *blz_oci_manifest_digest(const struct blz_oci_image *img);
/* "linux/amd64", "linux/arm64/v8", ...: this machine's platform in OCI terms */
const char *blz_oci_host_platform(void);

/* Opens layer i (0-based) for reading: its blob's file descriptor and name. */
int blz_oci_layer_open(struct blz_oci_image *img, size_t i, struct blz_oci_layer **ret,
		       char *err, size_t errlen);
int blz_oci_layer_fd(const struct blz_oci_layer *l);
/* "layer 2/3 sha256:<hex>", for messages */
const char *blz_oci_layer_name(const struct blz_oci_layer *l);
/* Observers for the tar reader (ctx = the layer): raw and decompressed bytes, in order. */
void blz_oci_observe_raw(void *ctx, const void *buf, size_t len);
void blz_oci_observe_decoded(void *ctx, const void *buf, size_t len);
/*
 * After the layer was read: complete = the tar reader read all of it (to the end of the
 * input); otherwise (the reader failed) the rest of the blob is read here, so that a
 * corrupt blob is reported as such rather than by the tar error it caused. Checks size and
 * digest; when complete, also the compression against the media type and the diff_id.
 * Returns 0 or -EBADMSG / -errno with the message in err.
 */
int blz_oci_layer_verify(struct blz_oci_layer *l, bool complete, char *err, size_t errlen);
void blz_oci_layer_close(struct blz_oci_layer *l);

#endif
