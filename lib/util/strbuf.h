/* A growable byte buffer and a typed growable vector. Allocation failure aborts
 * (blazy treats out-of-memory as fatal, like most system tools). */
#ifndef BLZ_UTIL_STRBUF_H
#define BLZ_UTIL_STRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

void *blz_xmalloc(size_t n);
void *blz_xcalloc(size_t n, size_t size);
void *blz_xrealloc(void *p, size_t n);
char *blz_xstrdup(const char *s);
void *blz_xmemdup(const void *p, size_t n);

struct blz_buf {
	uint8_t *data;
	size_t len, cap;
};

void blz_buf_reserve(struct blz_buf *b, size_t extra);
void blz_buf_append(struct blz_buf *b, const void *p, size_t n);
/* Appends n zero bytes and returns a pointer to them (valid until the next append). */
void *blz_buf_grow(struct blz_buf *b, size_t n);
void blz_buf_release(struct blz_buf *b);
/* Appends printf-formatted text (no NUL), however long. */
void blz_buf_printf(struct blz_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Formats a message into err (errlen bytes) and returns r: for library functions that
 * return -errno and leave the detail in a caller's buffer. */
int blz_errf(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Formats a message (at most 1 KiB) and hands it to a library's log callback (the
 * `void (*log)(void *ctx, const char *msg)` its options carry); nothing when log is NULL. */
void blz_log_callf(void (*log)(void *ctx, const char *msg), void *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void blz_log_callv(void (*log)(void *ctx, const char *msg), void *ctx, const char *fmt,
		   va_list ap) __attribute__((format(printf, 3, 0)));
/* VEC(type) name; vec_push(&name, v); name.len, name.v[i]; vec_release(&name). */
#define VEC(T) struct { T *v; size_t len, cap; }
#define vec_reserve(vp, n) do { \
	if ((vp)->len + (n) > (vp)->cap) { \
		size_t nc_ = (vp)->cap ? (vp)->cap * 2 : 8; \
		while (nc_ < (vp)->len + (n)) nc_ *= 2; \
		(vp)->v = blz_xrealloc((vp)->v, nc_ * sizeof(*(vp)->v)); \
		(vp)->cap = nc_; \
	} } while (0)
#define vec_push(vp, x) do { vec_reserve(vp, 1); (vp)->v[(vp)->len++] = (x); } while (0)
#define vec_release(vp) do { free((vp)->v); (vp)->v = NULL; (vp)->len = (vp)->cap = 0; } while (0)

/* Splits the len bytes of text in place into its non-empty lines (each '\n' becomes a NUL,
 * and text[len] is set to one: text has len + 1 bytes, as blz_read_text_file gives): *ret is a malloc'ed array of pointers into text, in order (NULL
 * when there are none). Returns the number of lines. */
size_t blz_split_lines(char *text, size_t len, char ***ret);

/* qsort that accepts an empty (NULL) array: qsort(NULL, 0, ...) is undefined behaviour. */
static inline void blz_sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(v, n, size, cmp);
}

#endif
