/* tls_crypto.c - cipher-suite table, TLS 1.2 PRF key block, TLS 1.3
 * HKDF-Expand-Label, and record decryption (AES-GCM, ChaCha20-Poly1305,
 * AES-CBC + HMAC, MAC-then-encrypt or encrypt_then_mac).  See tls_crypto.h.
 *
 * Owns: nothing global; struct tls_cipher holds the per-direction state.
 * Does not own: framing (tls.c), secrets' origin (keystore.c).
 *
 * Per record the AEAD path only re-sets the nonce on an EVP_CIPHER_CTX keyed
 * once per traffic key, and writes into the caller's buffer: no allocation.
 * Key material is wiped from the stack before returning and never logged.
 */
#include "tls_crypto.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "util.h"

#define S12(id, n, b, k, m, p) { id, n, TLS_BULK_##b, k, TLS_HASH_##m, \
				 TLS_HASH_##p, false }
#define X12(id, n) { id, n, TLS_BULK_NONE, 0, 0, TLS_HASH_SHA256, false }

static const struct tls_suite suites[] = {
	/* TLS 1.3 */
	{ 0x1301, "TLS_AES_128_GCM_SHA256", TLS_BULK_GCM, 16, 0,
	  TLS_HASH_SHA256, true },
	{ 0x1302, "TLS_AES_256_GCM_SHA384", TLS_BULK_GCM, 32, 0,
	  TLS_HASH_SHA384, true },
	{ 0x1303, "TLS_CHACHA20_POLY1305_SHA256", TLS_BULK_CHACHA, 32, 0,
	  TLS_HASH_SHA256, true },
	{ 0x1304, "TLS_AES_128_CCM_SHA256", TLS_BULK_NONE, 0, 0,
	  TLS_HASH_SHA256, true },
	{ 0x1305, "TLS_AES_128_CCM_8_SHA256", TLS_BULK_NONE, 0, 0,
	  TLS_HASH_SHA256, true },
	/* TLS 1.2 AES-GCM */
	S12(0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", GCM, 16, NONE, SHA256),
	S12(0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", GCM, 32, NONE, SHA384),
	S12(0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", GCM, 16, NONE,
	    SHA256),
	S12(0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", GCM, 32, NONE,
	    SHA384),
	S12(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", GCM, 16, NONE,
	    SHA256),
	S12(0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", GCM, 32, NONE,
	    SHA384),
	S12(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", GCM, 16, NONE,
	    SHA256),
	S12(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", GCM, 32, NONE,
	    SHA384),
	/* TLS 1.2 ChaCha20-Poly1305 (RFC 7905) */
	S12(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", CHACHA, 32,
	    NONE, SHA256),
	S12(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", CHACHA,
	    32, NONE, SHA256),
	S12(0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", CHACHA, 32,
	    NONE, SHA256),
	/* TLS 1.2 AES-CBC + HMAC */
	S12(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA", CBC, 16, SHA1, SHA256),
	S12(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA", CBC, 32, SHA1, SHA256),
	S12(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256", CBC, 16, SHA256,
	    SHA256),
	S12(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256", CBC, 32, SHA256,
	    SHA256),
	S12(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", CBC, 16, SHA1, SHA256),
	S12(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA", CBC, 32, SHA1, SHA256),
	S12(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", CBC, 16, SHA256,
	    SHA256),
	S12(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", CBC, 32, SHA256,
	    SHA256),
	S12(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", CBC, 16, SHA1,
	    SHA256),
	S12(0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", CBC, 32, SHA1,
	    SHA256),
	S12(0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", CBC, 16, SHA1,
	    SHA256),
	S12(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", CBC, 32, SHA1,
	    SHA256),
	S12(0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", CBC, 16,
	    SHA256, SHA256),
	S12(0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", CBC, 32,
	    SHA384, SHA384),
	S12(0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", CBC, 16, SHA256,
	    SHA256),
	S12(0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", CBC, 32, SHA384,
	    SHA384),
	/* Known by name, not decrypted. */
	X12(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
	X12(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA"),
	X12(0xC012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
	X12(0xC008, "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),
	X12(0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
	X12(0xC09C, "TLS_RSA_WITH_AES_128_CCM"),
	X12(0xC09D, "TLS_RSA_WITH_AES_256_CCM"),
	X12(0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM"),
	X12(0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM"),
	X12(0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8"),
	X12(0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8"),
	X12(0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
	X12(0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
	X12(0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
	X12(0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
	X12(0xC050, "TLS_RSA_WITH_ARIA_128_GCM_SHA256"),
	X12(0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
};

const struct tls_suite *tls_suite_find(uint16_t id)
{
	for (size_t i = 0; i < ARRAY_SIZE(suites); i++)
		if (suites[i].id == id)
			return &suites[i];
	return NULL;
}

unsigned tls_hash_len(int h)
{
	switch (h) {
	case TLS_HASH_SHA1: return 20;
	case TLS_HASH_SHA256: return 32;
	case TLS_HASH_SHA384: return 48;
	default: return 0;
	}
}

static const char *hash_name(int h)
{
	switch (h) {
	case TLS_HASH_SHA1: return "SHA1";
	case TLS_HASH_SHA256: return "SHA256";
	case TLS_HASH_SHA384: return "SHA384";
	default: return NULL;
	}
}

static const EVP_CIPHER *suite_cipher(const struct tls_suite *s)
{
	switch (s->bulk) {
	case TLS_BULK_GCM:
		return s->key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
	case TLS_BULK_CHACHA:
		return EVP_chacha20_poly1305();
	case TLS_BULK_CBC:
		return s->key_len == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
	default:
		return NULL;
	}
}

unsigned tls12_mac_key_len(const struct tls_suite *s)
{
	return s->bulk == TLS_BULK_CBC ? tls_hash_len(s->mac) : 0;
}

unsigned tls12_fixed_iv_len(const struct tls_suite *s)
{
	switch (s->bulk) {
	case TLS_BULK_GCM: return 4;
	case TLS_BULK_CHACHA: return 12;
	default: return 0;	/* CBC: explicit per-record IV (TLS 1.1+) */
	}
}

void tls_cipher_fini(struct tls_cipher *c)
{
	EVP_CIPHER_CTX_free(c->ctx);	/* clears the key schedule */
	EVP_MAC_CTX_free(c->hmac);
	secure_wipe(c, sizeof(*c));
}

/* Key c->ctx with cipher/key, keeping the context if there is one. */
static int cipher_key(struct tls_cipher *c, const struct tls_suite *s,
		      const uint8_t *key)
{
	const EVP_CIPHER *ci = suite_cipher(s);

	if (!ci)
		return -EINVAL;
	if (c->ctx)
		EVP_CIPHER_CTX_reset(c->ctx);
	else if (!(c->ctx = EVP_CIPHER_CTX_new()))
		return -ENOMEM;
	if (EVP_DecryptInit_ex(c->ctx, ci, NULL, key, NULL) != 1)
		return -EINVAL;
	if (s->bulk == TLS_BULK_CBC)
		EVP_CIPHER_CTX_set_padding(c->ctx, 0);
	c->suite = s;
	c->seq = 0;
	c->keyed = true;
	return 0;
}

/* AES-GCM: the whole IV into the context once per key, marked as the
 * fixed part that TLS 1.2's AEAD mode keeps ("tlsivfixed"); a record then
 * sets its 8 invocation bytes and its tag in one set_params call
 * (gcm_open).  OpenSSL 3.0 costs ~800 instructions in EVP_DecryptInit_ex
 * (an IV length lookup by parameter name) and ~500 per ctrl call, more
 * than the AES-GCM of a small record.  If the provider refuses, records
 * take aead_open's usual path. */
static void gcm_fix_iv(struct tls_cipher *c)
{
	c->gcm_inv = c->suite->bulk == TLS_BULK_GCM &&
		     EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IV_FIXED, -1,
					 c->iv) == 1;
}

int tls_cipher_init12(struct tls_cipher *c, const struct tls_suite *s,
		      const uint8_t *mac_key, const uint8_t *key,
		      const uint8_t *iv, bool etm)
{
	int rc;

	c->keyed = false;
	if (!s || s->tls13 || s->bulk == TLS_BULK_NONE)
		return -EINVAL;
	rc = cipher_key(c, s, key);
	if (rc)
		return rc;
	c->tls13 = false;
	c->etm = etm && s->bulk == TLS_BULK_CBC;
	memset(c->iv, 0, sizeof(c->iv));
	memcpy(c->iv, iv, tls12_fixed_iv_len(s));
	gcm_fix_iv(c);
	if (s->bulk == TLS_BULK_CBC) {
		EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM p[2];

		EVP_MAC_CTX_free(c->hmac);
		c->hmac = mac ? EVP_MAC_CTX_new(mac) : NULL;
		EVP_MAC_free(mac);
		if (!c->hmac) {
			c->keyed = false;
			return -ENOMEM;
		}
		p[0] = OSSL_PARAM_construct_utf8_string(
			OSSL_MAC_PARAM_DIGEST, (char *)hash_name(s->mac), 0);
		p[1] = OSSL_PARAM_construct_end();
		if (EVP_MAC_init(c->hmac, mac_key, tls_hash_len(s->mac), p) !=
		    1) {
			c->keyed = false;
			return -EINVAL;
		}
	}
	return 0;
}

int tls13_expand_label(const struct tls_suite *s, const uint8_t *secret,
		       unsigned secret_len, const char *label, uint8_t *out,
		       unsigned out_len)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t ll = strlen(label), il = 0;
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM p[5];
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, rc = -EINVAL;

	if (!s || !hash_name(s->prf) || ll + 6 > 255 || !secret_len)
		return -EINVAL;
	info[il++] = (uint8_t)(out_len >> 8);
	info[il++] = (uint8_t)out_len;
	info[il++] = (uint8_t)(6 + ll);
	memcpy(info + il, "tls13 ", 6);
	il += 6;
	memcpy(info + il, label, ll);
	il += ll;
	info[il++] = 0;		/* empty context */

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)hash_name(s->prf), 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, secret_len);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						 il);
	p[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, out_len, p) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	return rc;
}

int tls13_next_secret(const struct tls_suite *s, uint8_t *secret,
		      unsigned secret_len)
{
	uint8_t next[48];
	int rc;

	if (secret_len > sizeof(next) || secret_len != tls_hash_len(s->prf))
		return -EINVAL;
	rc = tls13_expand_label(s, secret, secret_len, "traffic upd", next,
				secret_len);
	if (!rc)
		memcpy(secret, next, secret_len);
	secure_wipe(next, sizeof(next));
	return rc;
}

int tls_cipher_init13(struct tls_cipher *c, const struct tls_suite *s,
		      const uint8_t *secret, unsigned secret_len)
{
	uint8_t key[32];
	int rc;

	c->keyed = false;
	if (!s || !s->tls13 || s->bulk == TLS_BULK_NONE ||
	    secret_len != tls_hash_len(s->prf))
		return -EINVAL;
	rc = tls13_expand_label(s, secret, secret_len, "key", key, s->key_len);
	if (!rc)
		rc = tls13_expand_label(s, secret, secret_len, "iv", c->iv, 12);
	if (!rc)
		rc = cipher_key(c, s, key);
	if (!rc)
		gcm_fix_iv(c);
	secure_wipe(key, sizeof(key));
	c->tls13 = true;
	c->etm = false;
	return rc;
}

int tls12_key_block(const struct tls_suite *s, const uint8_t master[48],
		    const uint8_t client_random[32],
		    const uint8_t server_random[32], uint8_t *out, size_t len)
{
	uint8_t seed[13 + 64];
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM p[4];
	int rc = -EINVAL;

	if (!s || !hash_name(s->prf))
		return -EINVAL;
	memcpy(seed, "key expansion", 13);
	memcpy(seed + 13, server_random, 32);
	memcpy(seed + 45, client_random, 32);
	kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -ENOMEM;
	p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)hash_name(s->prf), 0);
	p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET,
						 (void *)master, 48);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed,
						 sizeof(seed));
	p[3] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, p) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	return rc;
}

static void put_seq(uint8_t b[8], uint64_t seq)
{
	for (int i = 7; i >= 0; i--, seq >>= 8)
		b[i] = (uint8_t)seq;
}

/* AEAD open: nonce, aad, ct (ct_len) + 16-byte tag following it. */
static int aead_open(EVP_CIPHER_CTX *ctx, const uint8_t nonce[12],
		     const uint8_t *aad, int aad_len, const uint8_t *ct,
		     uint32_t ct_len, uint8_t *out)
{
	uint8_t tag[16];
	int l = 0, l2 = 0;

	memcpy(tag, ct + ct_len, 16);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &l, aad, aad_len) != 1 ||
	    (ct_len && EVP_DecryptUpdate(ctx, out, &l, ct, (int)ct_len) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + l, &l2) != 1)
		return -EBADMSG;
	return 0;
}

/* aead_open for a gcm_inv context: nonce[4..12) and the tag in one call. */
static int gcm_open(EVP_CIPHER_CTX *ctx, const uint8_t nonce[12],
		    const uint8_t *aad, int aad_len, const uint8_t *ct,
		    uint32_t ct_len, uint8_t *out)
{
	uint8_t tag[16], inv[8];
	int l = 0, l2 = 0;
	OSSL_PARAM p[3];

	memcpy(tag, ct + ct_len, 16);
	memcpy(inv, nonce + 4, 8);
	p[0] = OSSL_PARAM_construct_octet_string(
		OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16);
	p[1] = OSSL_PARAM_construct_octet_string(
		OSSL_CIPHER_PARAM_AEAD_TLS1_SET_IV_INV, inv, 8);
	p[2] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_set_params(ctx, p) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &l, aad, aad_len) != 1 ||
	    (ct_len && EVP_DecryptUpdate(ctx, out, &l, ct, (int)ct_len) != 1) ||
	    EVP_DecryptFinal_ex(ctx, out + l, &l2) != 1)
		return -EBADMSG;
	return 0;
}

static int hmac_record(struct tls_cipher *c, uint8_t type, const uint8_t *ver,
		       const uint8_t *a, uint32_t alen, const uint8_t *b,
		       uint32_t blen, uint8_t *mac)
{
	uint8_t h[13];
	size_t ml = 0;

	put_seq(h, c->seq);
	h[8] = type;
	h[9] = ver[0];
	h[10] = ver[1];
	h[11] = (uint8_t)((alen + blen) >> 8);
	h[12] = (uint8_t)(alen + blen);
	if (EVP_MAC_init(c->hmac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(c->hmac, h, 13) != 1 ||
	    (alen && EVP_MAC_update(c->hmac, a, alen) != 1) ||
	    (blen && EVP_MAC_update(c->hmac, b, blen) != 1) ||
	    EVP_MAC_final(c->hmac, mac, &ml, 48) != 1)
		return -EBADMSG;
	return 0;
}

static int cbc_open(struct tls_cipher *c, const uint8_t hdr[5],
		    const uint8_t *in, uint32_t len, uint8_t *out,
		    uint8_t **pt, uint32_t *pt_len)
{
	unsigned ml = tls_hash_len(c->suite->mac);
	uint8_t mac[48];
	uint32_t ct_len, n, pad;
	int l = 0;

	if (c->etm) {
		if (len < 16 + 16 + ml || (len - ml) % 16)
			return -EBADMSG;
		ct_len = len - ml - 16;
		if (hmac_record(c, hdr[0], hdr + 1, in, len - ml, NULL, 0,
				mac) ||
		    memcmp(mac, in + len - ml, ml))
			return -EBADMSG;
	} else {
		if (len < 16 + 16 || len % 16)
			return -EBADMSG;
		ct_len = len - 16;
	}
	if (EVP_DecryptInit_ex(c->ctx, NULL, NULL, NULL, in) != 1 ||
	    EVP_DecryptUpdate(c->ctx, out + 16, &l, in + 16, (int)ct_len) !=
	    1 || (uint32_t)l != ct_len)
		return -EBADMSG;
	n = ct_len;
	pad = out[16 + n - 1];
	if (pad + 1 > n)
		return -EBADMSG;
	for (uint32_t i = 0; i <= pad; i++)
		if (out[16 + n - 1 - i] != pad)
			return -EBADMSG;
	n -= pad + 1;
	if (!c->etm) {
		if (n < ml)
			return -EBADMSG;
		n -= ml;
		if (hmac_record(c, hdr[0], hdr + 1, out + 16, n, NULL, 0,
				mac) ||
		    memcmp(mac, out + 16 + n, ml))
			return -EBADMSG;
	}
	*pt = out + 16;
	*pt_len = n;
	return 0;
}

int tls_cipher_decrypt(struct tls_cipher *c, const uint8_t hdr[5],
		       const uint8_t *in, uint32_t len, uint8_t *out,
		       uint8_t **pt, uint32_t *pt_len, uint8_t *type)
{
	uint8_t nonce[12], aad[13];
	uint32_t n;
	int rc;

	if (!c->keyed)
		return -EBADMSG;
	if (c->tls13) {
		if (len < 17 || len > 16384 + 256)
			return -EBADMSG;
		memcpy(nonce, c->iv, 12);
		put_seq(aad, c->seq);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= aad[i];
		n = len - 16;
		if ((c->gcm_inv ? gcm_open : aead_open)(c->ctx, nonce, hdr, 5,
							in, n, out))
			return -EBADMSG;
		while (n && !out[n - 1])
			n--;
		if (!n)
			return -EBADMSG;	/* no inner content type */
		*type = out[n - 1];
		*pt = out;
		*pt_len = n - 1;
		c->seq++;
		return 0;
	}
	*type = hdr[0];
	switch (c->suite->bulk) {
	case TLS_BULK_GCM:
		if (len < 8 + 16)
			return -EBADMSG;
		n = len - 8 - 16;
		memcpy(nonce, c->iv, 4);
		memcpy(nonce + 4, in, 8);
		break;
	case TLS_BULK_CHACHA:
		if (len < 16)
			return -EBADMSG;
		n = len - 16;
		memcpy(nonce, c->iv, 12);
		put_seq(aad, c->seq);
		for (int i = 0; i < 8; i++)
			nonce[4 + i] ^= aad[i];
		break;
	case TLS_BULK_CBC:
		rc = cbc_open(c, hdr, in, len, out, pt, pt_len);
		if (!rc)
			c->seq++;
		return rc;
	default:
		return -EBADMSG;
	}
	put_seq(aad, c->seq);
	aad[8] = hdr[0];
	aad[9] = hdr[1];
	aad[10] = hdr[2];
	aad[11] = (uint8_t)(n >> 8);
	aad[12] = (uint8_t)n;
	{
		uint32_t off = c->suite->bulk == TLS_BULK_GCM ? 8 : 0;

		if ((c->gcm_inv ? gcm_open : aead_open)(c->ctx, nonce, aad, 13,
							in + off, n, out + off))
			return -EBADMSG;
		*pt = out + off;
	}
	*pt_len = n;
	c->seq++;
	return 0;
}
