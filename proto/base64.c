/*
 * base64.c: base64 (RFC 4648, with padding), for bytes that JSON strings
 * cannot carry: a command's output and standard input.
 */
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static const char base64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
proto_b64_encode(const void *data, size_t len)
{
	const unsigned char	*p = data;
	char			*out, *o;
	size_t			 i;
	unsigned		 v;

	if ((o = out = malloc((len + 2) / 3 * 4 + 1)) == NULL)
		return (NULL);
	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		*o++ = base64_chars[v >> 18];
		*o++ = base64_chars[(v >> 12) & 63];
		*o++ = base64_chars[(v >> 6) & 63];
		*o++ = base64_chars[v & 63];
	}
	if (i < len) {
		v = (unsigned)p[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		*o++ = base64_chars[v >> 18];
		*o++ = base64_chars[(v >> 12) & 63];
		*o++ = i + 1 < len ? base64_chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

/*
 * Decodes base64 (padding optional, no white space). With out NULL, only
 * checks. Returns 0, -1 if the text is not base64, or ASYNCD_ENOMEM.
 */
int
proto_b64_decode(const char *s, char **out, size_t *len)
{
	size_t		 n = strlen(s), i, o = 0;
	unsigned	 v = 0, bits = 0;
	const char	*c;
	char		*buf = NULL;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1 || strlen(s) - n > 2)
		return (-1);
	if (out != NULL && (buf = malloc(n / 4 * 3 + 3)) == NULL)
		return (ASYNCD_ENOMEM);
	for (i = 0; i < n; i++) {
		if (s[i] == '\0' || (c = strchr(base64_chars, s[i])) == NULL) {
			free(buf);
			return (-1);
		}
		v = v << 6 | (unsigned)(c - base64_chars);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (buf != NULL)
				buf[o] = (char)(v >> bits);
			o++;
		}
	}
	if (out != NULL) {
		*out = buf;
		*len = o;
	}
	return (0);
}
