/* tls_crypto.h - TLS cipher suites, key derivation and record decryption.
 *
 * Owns: the cipher-suite table, per-direction record cipher state (an
 * EVP_CIPHER_CTX keyed once per traffic key, an EVP_MAC_CTX for CBC suites,
 * the fixed IV, the sequence number).  Does not own record framing, the
 * handshake or where secrets come from (tls.c, keystore.c).
 *
 * Invariants: key material lives only in struct tls_cipher and on the stack
 * of the derivation functions, is wiped with secure_wipe() when replaced or
 * freed, and is never logged.  All crypto is OpenSSL EVP / EVP_MAC / EVP_KDF.
 */
#ifndef TAPIR_TLS_CRYPTO_H
#define TAPIR_TLS_CRYPTO_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

enum tls_bulk { TLS_BULK_NONE = 0, TLS_BULK_GCM, TLS_BULK_CHACHA,
		TLS_BULK_CBC };
enum tls_hash { TLS_HASH_NONE = 0, TLS_HASH_SHA1, TLS_HASH_SHA256,
		TLS_HASH_SHA384 };

struct tls_suite {
	uint16_t id;
	const char *name;	/* IANA name */
	uint8_t bulk;		/* enum tls_bulk; NONE = not decryptable */
	uint8_t key_len;	/* bytes */
	uint8_t mac;		/* CBC record MAC (enum tls_hash) */
	uint8_t prf;		/* PRF / HKDF hash (enum tls_hash) */
	bool tls13;
};

/* Largest ciphertext fragment (RFC 5246 6.2.3: 2^14 + 2048). */
#define TLS_MAX_CIPHERTEXT (16384 + 2048)

/* Suite by IANA id, or NULL if unknown.  Entries with bulk NONE are known
 * by name only (CCM, 3DES, ...) and cannot be decrypted. */
const struct tls_suite *tls_suite_find(uint16_t id);

/* Digest length of h (20, 32, 48). */
unsigned tls_hash_len(int h);

struct tls_cipher {
	const struct tls_suite *suite;
	EVP_CIPHER_CTX *ctx;	/* keyed once per traffic key */
	EVP_MAC_CTX *hmac;	/* CBC only */
	uint8_t iv[12];		/* GCM 1.2: 4 salt bytes; else 12 */
	uint64_t seq;
	bool tls13, etm, keyed;
	bool gcm_inv;		/* AES-GCM: the IV's first 4 bytes are in ctx,
				 * a record sets only the other 8 (fewer
				 * OpenSSL calls per record: tls_crypto.c) */
};

/* Release contexts and wipe; the struct may be reused afterwards. */
void tls_cipher_fini(struct tls_cipher *c);

/* Key a TLS 1.2 direction from its slice of the key block.  etm selects
 * encrypt_then_mac (RFC 7366) for CBC suites.  0 or -EINVAL / -ENOMEM. */
int tls_cipher_init12(struct tls_cipher *c, const struct tls_suite *s,
		      const uint8_t *mac_key, const uint8_t *key,
		      const uint8_t *iv, bool etm);

/* Key a TLS 1.3 direction from a traffic secret (key and iv by
 * HKDF-Expand-Label); seq restarts at 0.  0 or -EINVAL / -ENOMEM. */
int tls_cipher_init13(struct tls_cipher *c, const struct tls_suite *s,
		      const uint8_t *secret, unsigned secret_len);

/* TLS 1.2 key block: PRF(master, "key expansion", server_random +
 * client_random) into out (len bytes).  0 or -EINVAL. */
int tls12_key_block(const struct tls_suite *s, const uint8_t master[48],
		    const uint8_t client_random[32],
		    const uint8_t server_random[32], uint8_t *out, size_t len);

/* Bytes of key block one direction uses: mac key + key + fixed iv. */
unsigned tls12_mac_key_len(const struct tls_suite *s);
unsigned tls12_fixed_iv_len(const struct tls_suite *s);

/* HKDF-Expand-Label(secret, label, "", out_len) with the suite's hash. */
int tls13_expand_label(const struct tls_suite *s, const uint8_t *secret,
		       unsigned secret_len, const char *label, uint8_t *out,
		       unsigned out_len);

/* KeyUpdate: secret = HKDF-Expand-Label(secret, "traffic upd", "", hlen),
 * in place.  0 or -EINVAL. */
int tls13_next_secret(const struct tls_suite *s, uint8_t *secret,
		      unsigned secret_len);

/* Decrypt one record.  hdr is the 5-byte record header, in/len its
 * payload.  out must have room for len bytes and may equal in (in-place);
 * it must not otherwise overlap in.  On success *pt points into out at the
 * plaintext (*pt_len bytes) and *type is the content type (TLS 1.3: the
 * inner type, padding stripped).  seq advances on success.
 * Returns 0, or -EBADMSG (bad tag/MAC/padding/length). */
int tls_cipher_decrypt(struct tls_cipher *c, const uint8_t hdr[5],
		       const uint8_t *in, uint32_t len, uint8_t *out,
		       uint8_t **pt, uint32_t *pt_len, uint8_t *type);

#endif
