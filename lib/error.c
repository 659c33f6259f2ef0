/* error.c - the sentences behind PKS_E_* codes. Must never include secret values. */
#include <string.h>

#include "error.h"

/* One case per code, in the order of error.h: a table, kept whole so that every sentence is
 * read side by side. */
const char *error_message(int err)
{
	switch (-err) {
	case PKS_E_KEY_FORMAT:
		return "the certificate key must be 64 hexadecimal characters (32 bytes), as "
		       "printed by 'pkishare upload-certs' or 'pkishare certificate-key'";
	case PKS_E_KEY_MISMATCH:
		return "this certificate key is not the one the bundle was sealed with (was it "
		       "rotated by a newer 'pkishare upload-certs'?); ask for the current key";
	case PKS_E_AUTH:
		return "the bundle failed authentication: wrong certificate key, or the data was "
		       "altered in transit or storage; nothing was written";
	case PKS_E_BUNDLE_FORMAT:
		return "the bundle is not valid pkishare bundle JSON";
	case PKS_E_BUNDLE_VERSION:
		return "the bundle has an unknown apiVersion, kind or cipher; upgrade pkishare";
	case PKS_E_NAME:
		return "the bundle names a file outside the shared PKI set (or an unsafe path)";
	case PKS_E_DUPLICATE:
		return "the bundle names the same file twice";
	case PKS_E_TOO_BIG:
		return "input is larger than the allowed maximum";
	case PKS_E_MISSING:
		return "a required PKI file is missing";
	case PKS_E_SYMLINK:
		return "the target is or contains a symbolic link; refusing to follow it";
	case PKS_E_EXISTS:
		return "the target directory already holds different files; compare them, or "
		       "pass --force to replace them";
	case PKS_E_EXPIRED:
		return "the bundle has expired; run 'pkishare upload-certs' on the first "
		       "control-plane node and use the new key";
	case PKS_E_PIN_FORMAT:
		return "the CA pin must look like sha256:<64 hex characters> (kubeadm's "
		       "--discovery-token-ca-cert-hash format)";
	case PKS_E_PIN_MISMATCH:
		return "the server's certificate chain does not match --ca-cert-hash; this is not "
		       "the cluster you meant (or the pin is wrong); nothing was sent";
	case PKS_E_X509:
		return "a certificate or key could not be parsed or created";
	case PKS_E_DURATION:
		return "a duration is written as Go and kubeadm write it: numbers with a unit h, m "
		       "or s (90s, 15m, 2h, 1h30m0s, 1.5h), a whole number of seconds and more "
		       "than 0 (kubeadm's 0, never, is not taken: everything here expires)";
	case PKS_E_KUBEADM_SHORT:
		return "the entry is shorter than a 12-byte nonce and a 16-byte tag: it was "
		       "truncated, or is not kubeadm's encryption";
	case PKS_E_TOKEN_FORMAT:
		return "the join token must look like abcdef.0123456789abcdef, as printed by "
		       "'pkishare token create'";
	case PKS_E_WEAK_KEY:
		return "the key must be ECDSA P-256, or RSA of 2048 to 4096 bits with public "
		       "exponent 65537; make a new key of one of those kinds";
	case PKS_E_PAIR:
		return "a private key does not belong to its certificate (or public key): the "
		       "entries were swapped or replaced; nothing was written; upload the PKI "
		       "again from the first node";
	case PKS_E_FOREIGN:
		return "an existing file or directory in the target is owned by another user or "
		       "writable by group or others; nothing was written: check who put it there, "
		       "then fix its owner and mode (chown, chmod go-w) or remove it";
	case PKS_E_SPECIAL:
		return "the target holds a FIFO, socket or device, which has no place in a PKI "
		       "directory and cannot be carried over; nothing was written: remove it (or "
		       "choose another --pki-dir)";
	case PKS_E_MOUNT:
		return "the target directory is a mount point: the install builds the new tree "
		       "beside it and swaps it in with one rename, which cannot replace a mount; "
		       "nothing was written: mount the file system one level up and use a "
		       "directory on it, or unmount it and let join make the directory";
	case PKS_E_UNSAFE_PATH:
		return "the way to the target goes through a directory or symbolic link that "
		       "another user controls, who could choose where the files go; nothing was "
		       "written: use a path only root and this user control";
	case PKS_E_KEY_MODE:
		return "a file already there that holds a private key is readable by group or "
		       "others, and the install never leaves a key so; nothing was written: "
		       "chmod 600 it (and check who could have read it) and run again, or pass "
		       "--force to replace it with the bundle's copy, written 0600";
	case PKS_E_CLOCK:
		return "a clock is out of step: compare this node's clock with the "
		       "server's ('timedatectl' on both) and fix the wrong one (NTP: timedatectl "
		       "set-ntp true, or chronyc makestep), then run again; nothing was fetched "
		       "or written";
	case PKS_E_SERVER_NAME:
		return "the pin is right, but the server's certificate does not name the address "
		       "given in --server: use one of the names it has, or give pkishared a "
		       "serving certificate with this address ('pkishare pki serving-cert "
		       "--address ...' on its node, then 'systemctl reload pkishared'); nothing "
		       "was sent";
	case PKS_E_API_SERVER:
		return "--server names the Kubernetes API server, not pkishared: use pkishared's "
		       "port, --server HOST:9443 (the default when no port is given); nothing was "
		       "sent";
	case PKS_E_SERVER_NO_CA:
		return "pkishared's serving certificate file holds only its own certificate: put "
		       "the cluster CA's certificate after it in the file pkishared's tls-cert "
		       "names ('pkishare pki serving-cert' writes it so) and reload pkishared; the "
		       "--ca-cert-hash is not to blame; nothing was sent";
	case PKS_E_NOT_DIR:
		return "the path exists but is not a directory";
	default:
		if (err < 0 && -err < PKS_E_BASE)
			return strerror(-err);
		return "unknown error";
	}
}
