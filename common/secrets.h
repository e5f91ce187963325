/* secrets — the credential store: named secrets (SSH keys, cloud keys)
 * encrypted at rest in the `credentials` table (schemas/sql/001_inventory.sql).
 *
 * Each value is sealed with AES-256-GCM under a master key that is never in
 * the database: a file of exactly 32 random bytes, mode 0600 or stricter (a
 * key file readable by group or others is refused).  Every row records
 *   key_id     = hex of the first 8 bytes of SHA-256(master key), so a wrong
 *                key is named as such instead of failing as "corrupt";
 *   nonce      = 12 random bytes, new for every seal;
 *   ciphertext = value || 16-byte GCM tag,
 * and the secret's name is the additional authenticated data, so a
 * ciphertext copied onto another name does not open.
 *
 * Decrypted values come back as wm_secret (log.h), which registers them with
 * the log redactor.  Nothing here writes a value into an error message.
 *
 * Errors: 0 or negative errno with a one-line reason in err:
 *   -ENOENT       no such secret (or key file missing)
 *   -EPERM        key file readable by group/others
 *   -EKEYREJECTED the secret was sealed under another master key
 *   -EBADMSG      authentication failed (ciphertext, nonce or name tampered)
 *   -EINVAL       bad name, bad key file size, value too large
 *   -EIO          database error */
#ifndef WM_SECRETS_H
#define WM_SECRETS_H

#include <stddef.h>

#include "log.h"

#define WM_SECRETS_KEY_LEN 32
#define WM_SECRETS_KEY_ID_LEN 16         /* hex chars */
#define WM_SECRETS_MAX_VALUE (64 * 1024) /* an SSH key or cloud credentials, not a disk */
#define WM_SECRETS_MAX_NAME 128

struct wm_pg;
struct wm_secrets;

struct wm_config;

/* Declares secrets.master_key (path of the master key file) in cfg, for
 * every program that opens the store (CLI, worker).  0 or -EINVAL. */
int wm_secrets_declare(struct wm_config *cfg, char *err, size_t errlen);

/* Reads and checks a master key file (regular, mode & 077 == 0, 32 bytes). */
int wm_secrets_load_key(const char *path, unsigned char key[WM_SECRETS_KEY_LEN], char *err,
                        size_t errlen);

/* key_id of a key: 16 hex chars + NUL. */
void wm_secrets_key_id_of(const unsigned char key[WM_SECRETS_KEY_LEN],
                          char out[WM_SECRETS_KEY_ID_LEN + 1]);

/* A store on db (borrowed, must outlive it) under the key in key_file. */
struct wm_secrets *wm_secrets_open(struct wm_pg *db, const char *key_file, char *err,
                                   size_t errlen);
/* Sets or replaces the database (for a store opened with db NULL, so the
 * key file is checked before a connection is made). */
void wm_secrets_set_db(struct wm_secrets *s, struct wm_pg *db);
/* Wipes the key and frees.  NULL is a no-op. */
void wm_secrets_close(struct wm_secrets *s);
/* The key_id of the store's master key. */
const char *wm_secrets_key_id(const struct wm_secrets *s);

/* Names: 1..128 of [A-Za-z0-9._@/+-], starting with an alphanumeric. */
int wm_secrets_valid_name(const char *name);

/* Creates or replaces name's value (len bytes, 1..WM_SECRETS_MAX_VALUE). */
int wm_secrets_set(struct wm_secrets *s, const char *name, const void *value, size_t len, char *err,
                   size_t errlen);

/* *out gets the decrypted value (caller frees with wm_secret_free). */
int wm_secrets_get(struct wm_secrets *s, const char *name, wm_secret **out, char *err,
                   size_t errlen);

/* Names and key ids, sorted by name; never decrypts.  Free with
 * wm_secrets_list_free.  Needs no master key: s may come from
 * wm_secrets_open with a NULL key_file. */
struct wm_secrets_entry {
    char name[WM_SECRETS_MAX_NAME + 1];
    char key_id[WM_SECRETS_KEY_ID_LEN + 1];
    char updated_at[40]; /* ISO 8601 UTC */
};
int wm_secrets_list(struct wm_secrets *s, struct wm_secrets_entry **out, size_t *n, char *err,
                    size_t errlen);
void wm_secrets_list_free(struct wm_secrets_entry *list);

/* Deletes name; -ENOENT if there was none. */
int wm_secrets_rm(struct wm_secrets *s, const char *name, char *err, size_t errlen);

/* Re-encrypts every secret under the key in new_key_file, in one
 * transaction: either all rows move to the new key or none does (a row the
 * current key cannot open aborts the rotation).  On success the store uses
 * the new key and *count (may be NULL) gets the number of secrets moved. */
int wm_secrets_rotate(struct wm_secrets *s, const char *new_key_file, int *count, char *err,
                      size_t errlen);

#endif
