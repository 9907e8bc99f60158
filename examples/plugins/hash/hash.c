/*
 * hash: a file hasher on the thread pool.
 *
 * "hash.sha256" {"path": "/some/file"} reads the file on a thread of the
 * daemon's pool (reading may block: it must stay off the loop) and
 * returns {"sha256": "<hex>", "bytes": N}, reporting progress as it goes.
 * The digest is OpenSSL's libcrypto. A cancelled job stops between
 * blocks.
 *
 *	cc -shared -fPIC $(pkg-config --cflags asyncd-plugin) \
 *	    -o hash.so hash.c $(pkg-config --libs libcrypto)
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <asyncd/plugin.h>

/* Read size, and how often progress is reported. */
#define HASH_BLOCK	(256 * 1024)

static int
hash_check(struct ad_check *chk, const cJSON *args, char **cause)
{
	const cJSON	*path = cJSON_GetObjectItemCaseSensitive(args, "path");

	(void)chk;
	if (!cJSON_IsString(path) || path->valuestring[0] != '/') {
		*cause = strdup("hash.sha256 takes {\"path\": \"/absolute/"
		    "path\"}");
		return (ASYNCD_EBADARGS);
	}
	return (0);
}

/* On a pool thread. */
static int
hash_sha256(struct ad_call *call, const cJSON *args, cJSON **result)
{
	const char	*path = cJSON_GetObjectItemCaseSensitive(args,
			    "path")->valuestring;
	unsigned char	 md[EVP_MAX_MD_SIZE];
	char		 hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned char	*buf = NULL;
	EVP_MD_CTX	*ctx = NULL;
	struct stat	 st;
	unsigned	 mdlen, i;
	double		 total, done = 0;
	ssize_t		 n;
	int		 fd, rv;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (ad_call_fail(call, "io_error", "%s: %s", path,
		    strerror(errno)));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return (ad_call_fail(call, "io_error", "%s: not a regular "
		    "file", path));
	}
	total = (double)st.st_size;
	if ((buf = malloc(HASH_BLOCK)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		rv = ad_call_fail(call, "no_memory", "cannot start a digest");
		goto out;
	}
	for (;;) {
		if (ad_call_cancelled(call)) {
			rv = ad_call_fail(call, "cancelled", "cancelled");
			goto out;
		}
		if ((n = read(fd, buf, HASH_BLOCK)) == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rv = ad_call_fail(call, "io_error", "%s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		done += (double)n;
		ad_call_progress(call, total > 0 ? done / total : 1,
		    "%.0f of %.0f bytes", done, total);
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	*result = cJSON_CreateObject();
	cJSON_AddStringToObject(*result, "sha256", hex);
	cJSON_AddNumberToObject(*result, "bytes", done);
	rv = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	close(fd);
	return (rv);
}

static const struct ad_func hash_func = {
	.name = "hash.sha256",
	.description = "SHA-256 of a file, {\"path\": \"/file\"}, on the "
	    "thread pool",
	.check = hash_check,
	.fn = hash_sha256,
};

static int
hash_register(struct ad_plugin *p)
{
	return (ad_register_thread(p, &hash_func));
}

AD_PLUGIN(hash_register)
