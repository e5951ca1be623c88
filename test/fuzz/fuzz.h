/*
 * Shared by the libFuzzer harnesses (test/fuzz/fuzz_*.c): each defines
 * LLVMFuzzerTestOneInput() for one parser of untrusted bytes. These helpers abort on a
 * harness error (never on a parser error: rejecting the input is the parser's job).
 */
#ifndef BLZ_FUZZ_H
#define BLZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A memfd holding data[0..size), its offset at 0; or -1 after a message (harness bug). */
int fuzz_memfd(const void *data, size_t size);
/* Replaces the contents of fd with data[0..size) and rewinds it. */
void fuzz_refill(int fd, const void *data, size_t size);
/* "/proc/self/fd/N", for APIs that open a path. */
void fuzz_fd_path(int fd, char *buf, size_t len);
/* A private directory below $TMPDIR (or /tmp), made once per process and removed at exit;
 * returns its path. */
const char *fuzz_tmpdir(void);

/* Removes path and everything below it (a harness's per-input directory); a missing path
 * is fine. Never follows a symlink. */
void fuzz_rmtree(const char *path);

#endif
