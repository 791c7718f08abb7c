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
 *
 * Late keys (tls_session_set_key_wait() > 0, live capture): when the key
 * store lacks the secrets at the point they are needed (TLS 1.3 at the
 * ServerHello or a Finished, TLS 1.2 at a ChangeCipherSpec) the session
 * WAITS instead of giving up: every later record of both directions is held
 * in wire order (bounded per session and by the memcap), and
 * tls_session_retry_keys() replays them once the secrets are there.
 *
 *   decrypting --secret missing--> WAITING --tls_session_retry_keys(), keys
 *        ^                           |       present: replay held records--.
 *        '---------------------------+-----------------------------------'
 *                                    |  tls_session_stop_waiting() (timeout,
 *                                    |  end of capture), hold bound or memcap
 *                                    v
 *                      stopped, "decrypted": false, reason says which
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

/* Why a session was not (fully) decrypted: tls_info.why, first cause. */
enum tls_why {
	TLS_WHY_NONE = 0,
	TLS_WHY_NO_KEYS,	/* no secrets for the session */
	TLS_WHY_KEYS_LATE,	/* waited for keys: timeout or hold bound */
	TLS_WHY_UNSUPPORTED,	/* cipher suite or version */
	TLS_WHY_MIDSTREAM,	/* capture started mid-session */
	TLS_WHY_BAD_RECORD,	/* tag / MAC did not verify (wrong keys?) */
	TLS_WHY_GAP,		/* bytes missing from the capture */
	TLS_WHY_NO_DATA,	/* no application data (handshake only) */
	TLS_WHY_OTHER,		/* malformed TLS, memory cap, renegotiation */
	TLS_WHY_COUNT
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
	uint8_t why;		/* enum tls_why of reason; NONE if "" */
	uint64_t records[2], app_bytes[2];
};

struct tls_session;

struct tls_stats {
	uint64_t sessions, decrypted, no_keys, unsupported, bad_records,
		midstream;
	/* late keys */
	uint64_t keys_waited;	/* sessions that held ciphertext for keys */
	uint64_t keys_late;	/* ... and were resumed when keys came */
	uint64_t keys_timeout;	/* ... gave up: keys did not come in time */
	uint64_t hold_exceeded;	/* ... gave up: hold bound or memcap */
};

/* Default bound on ciphertext one session holds while waiting for keys. */
#define TLS_HOLD_MAX_DEFAULT (4u << 20)

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

/* Late keys.  max_held > 0: a session whose secrets are missing holds up
 * to max_held bytes of records (each also charged to the memcap) waiting
 * for them; 0 (the default): missing secrets stop decryption at once. */
void tls_session_set_key_wait(struct tls_session *s, uint64_t max_held);
/* Is s waiting for keys?  *since_ns (may be NULL) gets the capture time of
 * the data that first needed the missing secret. */
bool tls_session_waiting(const struct tls_session *s, uint64_t *since_ns);
/* Bytes s holds for keys (charged to the memcap). */
uint64_t tls_session_held(const struct tls_session *s);
/* The key store may have the missing secrets now: if so, decrypt every held
 * record in order (ops callbacks run from here, with each record's capture
 * time) and continue normally.  Returns 1 if still waiting (a secret is
 * still missing), 0 otherwise. */
int tls_session_retry_keys(struct tls_session *s);
/* Give up waiting: held records are dropped (memory released), both
 * directions stop, tls_info.reason is "keys did not arrive within Ns"
 * (waited_ns > 0) or "no keys for session" (waited_ns == 0: input ended).
 * No-op if s is not waiting. */
void tls_session_stop_waiting(struct tls_session *s, uint64_t waited_ns);

/* Does p look like the start of a TLS ClientHello record?  Returns 1 yes,
 * 0 no, -EAGAIN if more bytes are needed to tell (n < 6). */
int tls_looks_like_client_hello(const uint8_t *p, uint32_t n);

#endif
