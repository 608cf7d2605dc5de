/*
 * preview_bytes: what the preview_* modules (charset, html, resolve) share:
 * ASCII byte classes as HTML and URLs define them (not the locale's), and
 * a growing byte buffer. Internal to those modules; static inline so each
 * links alone (the fuzzers take one module at a time).
 */
#ifndef MR_PREVIEW_BYTES_H
#define MR_PREVIEW_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* --- small byte helpers --- */

static inline int
ph_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static inline int
ph_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static inline int
ph_is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline int
ph_is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline int
ph_hexval(unsigned char c)
{
	if (ph_is_digit(c))
		return c - '0';
	c = (unsigned char)ph_lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* --- a growing byte buffer; out of memory sticks and is checked once --- */

struct ph_buf {
	char *p;
	size_t len;
	size_t cap;
	size_t limit;	/* never grows past this */
	int oom;
};

static inline int
ph_buf_reserve(struct ph_buf *b, size_t more)
{
	size_t cap;
	char *p;

	if (b->oom)
		return -1;
	if (b->cap - b->len > more)
		return 0;
	if (more >= b->limit - b->len)
		return -1;
	cap = b->cap < 256 ? 256 : b->cap;
	while (cap - b->len <= more)
		cap = cap > b->limit / 2 ? b->limit : cap * 2;
	if ((p = realloc(b->p, cap)) == NULL) {
		b->oom = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static inline int
ph_buf_put(struct ph_buf *b, const void *s, size_t n)
{
	if (ph_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static inline int
ph_buf_put_cp(struct ph_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xC0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else {
		/* Only BMP code points reach here (windows-1252, U+FFFD). */
		u[0] = (unsigned char)(0xE0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	}
	return ph_buf_put(b, u, n);
}

#endif
