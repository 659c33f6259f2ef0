/* error.h - project error codes and the one place that turns them into advice.
 *
 * Library functions return 0 (or a count) on success and a negative value on failure:
 * either -errno or one of the PKS_E_* codes below. Nothing in lib/ logs; callers log
 * once, where the decision is made, using error_message(). */
#pragma once

enum {
	PKS_E_BASE = 10000,
	PKS_E_KEY_FORMAT,     /* certificate key is not 64 hex characters */
	PKS_E_KEY_MISMATCH,   /* key id differs from the bundle's key id */
	PKS_E_AUTH,	      /* AEAD authentication failed */
	PKS_E_BUNDLE_FORMAT,  /* bundle JSON malformed */
	PKS_E_BUNDLE_VERSION, /* unknown apiVersion/kind/cipher */
	PKS_E_NAME,	      /* entry name outside the known set or unsafe */
	PKS_E_DUPLICATE,      /* the same entry twice */
	PKS_E_TOO_BIG,	      /* a size over its cap */
	PKS_E_MISSING,	      /* a required PKI file is missing */
	PKS_E_SYMLINK,	      /* a symlink where a directory or file was expected */
	PKS_E_EXISTS,	      /* target holds different files and --force was not given */
	PKS_E_EXPIRED,	      /* bundle past its expiry time */
	PKS_E_PIN_FORMAT,     /* CA pin not sha256:<64 hex> */
	PKS_E_PIN_MISMATCH,   /* no certificate in the server chain matches the pin */
	PKS_E_X509,	      /* OpenSSL could not parse or build a certificate or key */
	PKS_E_DURATION,	      /* a duration that is not like 90s, 15m or 2h */
	PKS_E_NOT_DIR,	      /* a path that should be a directory is something else */
	PKS_E_TOKEN_FORMAT,   /* join token not [a-z0-9]{6}.[a-z0-9]{16} */
	PKS_E_KUBEADM_SHORT,  /* a kubeadm entry shorter than its nonce and tag */
	PKS_E_WEAK_KEY,	      /* a public key outside P-256 and RSA 2048-4096 with e=65537 */
	PKS_E_FOREIGN,	      /* an existing entry owned by someone else or writable by others */
	PKS_E_PAIR,	      /* a private key that does not belong to its certificate */
	PKS_E_SPECIAL,	      /* a FIFO, socket or device where a PKI file or directory goes */
	PKS_E_MOUNT,	    /* the target directory is a mount point: the swap cannot replace it */
	PKS_E_UNSAFE_PATH,  /* a directory or symlink on the way another user controls */
	PKS_E_KEY_MODE,	    /* a file that holds (or will hold) a private key readable by others */
	PKS_E_CLOCK,	    /* this node's clock and a peer's disagree (a certificate's dates) */
	PKS_E_SERVER_NAME,  /* the server's certificate is the pinned CA's, not for the address */
	PKS_E_API_SERVER,   /* the server is the Kubernetes API server, not pkishared */
	PKS_E_SERVER_NO_CA, /* the server sent its certificate without a CA: no pin to check */
	PKS_E_LAST,
};

/* A sentence for err (negative), saying what went wrong and, where one exists, what to
 * do. Never NULL. */
const char *error_message(int err);
