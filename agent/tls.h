/* tls.h - passive TLS: record layer, handshake metadata, decryption.
 *
 * Owns: per-direction record reassembly buffers (charged to the memcap),
 * handshake message reassembly, traffic keys (wiped on free), the session's
 * metadata.  Does not own the key store (looked up by client_random) or the
 * plaintext consumer (tls_ops).
 *
 * dir 0 = client->server, dir 1 = server->client.
 *
 *   tls_session_new
 *     -> ClientHello  (client_random, SNI, ALPN offer, supported_versions)
 *     -> ServerHello  (version, cipher, ALPN; HRR -> wait for 2nd hello)
 *     TLS 1.3: handshake traffic keys -> decrypt EncryptedExtensions (ALPN)
 *              .. Finished (per direction) -> application traffic keys,
 *              KeyUpdate -> next generation
 *     TLS 1.2: ChangeCipherSpec (per direction) -> key block from master
 *              secret (PRF) -> Finished, application data
 *   each decrypted application_data record -> ops->plaintext
 *   missing keys / unsupported suite / bad tag / gap -> that direction (or
 *   the session) stops decrypting, tls_info.reason says why (sticky)
 */
#ifndef TAPIR_TLS_H
#define TAPIR_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include "keystore.h"
#include "util.h"

struct tls_ops {
	/* Decrypted application data of dir; p valid only during the call. */
	void (*plaintext)(void *ctx, int dir, const uint8_t *p, uint32_t n,
			  uint64_t ts_ns);
	/* Decryption of dir stopped (reason in tls_info); optional. */
	void (*failed)(void *ctx, int dir, const char *reason, uint64_t ts_ns);
	/* Plaintext bytes of dir could not be recovered (gap or undecryptable
	 * record); optional.  n may be 0 if unknown. */
	void (*gap)(void *ctx, int dir, uint64_t n, uint64_t ts_ns);
};

struct tls_info {
	uint16_t version;	/* negotiated, 0x0303 / 0x0304; 0 unknown */
	uint16_t cipher;	/* IANA suite id; 0 unknown */
	char version_name[16];	/* "TLSv1.2" */
	char cipher_name[64];	/* "TLS_AES_128_GCM_SHA256" */
	char sni[256];
	char alpn[32];		/* selected by the server; "" if none */
	bool have_client_random;
	uint8_t client_random[32];
	bool decrypting;	/* keys found, records decrypt */
	bool decrypted;		/* at least one application record decrypted
				   and no decryption failure since */
	char reason[96];	/* why not decrypted; "" otherwise */
	uint64_t records[2], app_bytes[2];
};

struct tls_session;

struct tls_stats {
	uint64_t sessions, decrypted, no_keys, unsupported, bad_records,
		midstream;
};

/* ks may be NULL (no keys). */
struct tls_session *tls_session_new(struct keystore *ks,
				    const struct tls_ops *ops, void *ctx,
				    struct memcap *mc, struct tls_stats *st);
void tls_session_free(struct tls_session *s);	/* accepts NULL; wipes */

/* Feed stream bytes of dir.  Returns 0, or -EBADMSG when the stream is not
 * TLS (the session is then broken, sticky), -ENOMEM if the memcap refused
 * buffering (reported as a gap to ops). */
int tls_session_feed(struct tls_session *s, int dir, const uint8_t *p,
		     uint32_t n, uint64_t ts_ns);
/* n bytes of dir were not captured: record sync is lost for dir. */
void tls_session_gap(struct tls_session *s, int dir, uint64_t n,
		     uint64_t ts_ns);
const struct tls_info *tls_session_info(const struct tls_session *s);

/* Does p look like the start of a TLS ClientHello record?  Returns 1 yes,
 * 0 no, -EAGAIN if more bytes are needed to tell (n < 6). */
int tls_looks_like_client_hello(const uint8_t *p, uint32_t n);

#endif
