// hugekey.go - the unauthenticated handshake of the third outside review: a client that
// presents a made-up certificate whose RSA key has a modulus and an exponent of the sizes
// given, and signs its CertificateVerify with random bytes (it has no private key). A
// server that checks that signature before it decides whether the certificate is one it
// trusts computes s^e mod n for it.
//
//	hugekey HOST:PORT MODULUS_BITS EXPONENT_BITS|f4 1.2|1.3 [CERT KEY]
//
// f4 as exponent is 65537, the usual one.
// With CERT and KEY (PEM), the made-up certificate is signed by that CA, so that only the
// key policy can refuse it; without them it names an issuer nobody trusts. Prints
// "refused" when the server ended the handshake, "answered NNN" when a request got an
// HTTP status, and the handshake's wall time on stderr.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"strconv"
	"time"
)

// fakeSigner has a public key of the made-up size and signs with random bytes.
type fakeSigner struct{ size int }

func (f fakeSigner) Public() crypto.PublicKey {
	// Only its size is read (to pick a signature scheme); an exponent Go can hold.
	n := new(big.Int).Lsh(big.NewInt(1), uint(f.size*8-1))
	return &rsa.PublicKey{N: n.Add(n, big.NewInt(1)), E: 65537}
}

func (f fakeSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig := make([]byte, f.size)
	_, err := io.ReadFull(rand.Reader, sig)
	sig[0] &= 0x7f // below the modulus
	return sig, err
}

type algID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type spki struct {
	Algorithm algID
	PublicKey asn1.BitString
}

type rsaKey struct{ N, E *big.Int }

type validity struct{ NotBefore, NotAfter time.Time }

type extension struct {
	ID       asn1.ObjectIdentifier
	Critical bool `asn1:"optional"`
	Value    []byte
}

type tbsCert struct {
	Version    int `asn1:"optional,explicit,default:0,tag:0"`
	Serial     *big.Int
	SigAlg     algID
	Issuer     asn1.RawValue
	Validity   validity
	Subject    asn1.RawValue
	Key        spki
	Extensions []extension `asn1:"optional,explicit,tag:3"`
}

type certificate struct {
	TBS    asn1.RawValue
	SigAlg algID
	Sig    asn1.BitString
}

var (
	oidRSA        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256RSA  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidECDSA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidEKU        = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidClientAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
)

func randOdd(bits int) *big.Int {
	b := make([]byte, (bits+7)/8)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err)
	}
	n := new(big.Int).SetBytes(b)
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	return n
}

func name(cn string) asn1.RawValue {
	der, err := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
	if err != nil {
		panic(err)
	}
	return asn1.RawValue{FullBytes: der}
}

func die(err error) {
	fmt.Fprintln(os.Stderr, "hugekey:", err)
	os.Exit(2)
}

// madeUp builds the certificate: signed by the CA in caFiles when given, else random bytes.
func madeUp(modBits, expBits int, caFiles []string) []byte {
	e := big.NewInt(65537)
	if expBits > 0 {
		e = randOdd(expBits)
	}
	keyDER, err := asn1.Marshal(rsaKey{N: randOdd(modBits), E: e})
	if err != nil {
		die(err)
	}
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{oidClientAuth})
	tbs := tbsCert{
		Version:    2,
		Serial:     randOdd(64),
		Issuer:     name("nobody's CA"),
		Validity:   validity{time.Now().Add(-time.Hour).UTC(), time.Now().Add(time.Hour).UTC()},
		Subject:    name("attacker"),
		Key:        spki{algID{oidRSA, asn1.NullRawValue}, asn1.BitString{Bytes: keyDER, BitLength: 8 * len(keyDER)}},
		Extensions: []extension{{ID: oidEKU, Value: eku}},
		SigAlg:     algID{Algorithm: oidSHA256RSA, Parameters: asn1.NullRawValue},
	}
	var signer crypto.Signer
	if len(caFiles) == 2 {
		caPEM, err := os.ReadFile(caFiles[0])
		if err != nil {
			die(err)
		}
		pair, err := tls.LoadX509KeyPair(caFiles[0], caFiles[1])
		if err != nil {
			die(err)
		}
		block, _ := pem.Decode(caPEM)
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			die(err)
		}
		tbs.Issuer = asn1.RawValue{FullBytes: ca.RawSubject}
		signer = pair.PrivateKey.(crypto.Signer)
		if _, ok := signer.Public().(*rsa.PublicKey); !ok {
			tbs.SigAlg = algID{Algorithm: oidECDSA256}
		}
	}
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		die(err)
	}
	sig := make([]byte, 256)
	if signer != nil {
		h := sha256.Sum256(tbsDER)
		if sig, err = signer.Sign(rand.Reader, h[:], crypto.SHA256); err != nil {
			die(err)
		}
	} else if _, err := io.ReadFull(rand.Reader, sig); err != nil {
		die(err)
	}
	der, err := asn1.Marshal(certificate{TBS: asn1.RawValue{FullBytes: tbsDER}, SigAlg: tbs.SigAlg,
		Sig: asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		die(err)
	}
	return der
}

func main() {
	if len(os.Args) != 5 && len(os.Args) != 7 {
		die(fmt.Errorf("usage: hugekey HOST:PORT MODULUS_BITS EXPONENT_BITS|f4 1.2|1.3 [CERT KEY]"))
	}
	modBits, _ := strconv.Atoi(os.Args[2])
	expBits, _ := strconv.Atoi(os.Args[3]) // "f4": 0, the usual exponent
	ver := uint16(tls.VersionTLS13)
	if os.Args[4] == "1.2" {
		ver = tls.VersionTLS12
	}
	der := madeUp(modBits, expBits, os.Args[5:])
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: fakeSigner{size: (modBits + 7) / 8}}
	cfg := &tls.Config{
		InsecureSkipVerify: true, // the server is not what is tested here
		MinVersion:         ver,
		MaxVersion:         ver,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
	}
	start := time.Now()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 60 * time.Second}, "tcp", os.Args[1], cfg)
	if err == nil {
		// TLS 1.3: the client's flight is sent; the server's verdict comes with the first read.
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		buf := make([]byte, 64)
		n, rerr := io.ReadAtLeast(conn, buf, 12)
		conn.Close()
		if rerr == nil && n >= 12 {
			fmt.Fprintf(os.Stderr, "handshake and request: %.3f s\n", time.Since(start).Seconds())
			fmt.Printf("answered %s\n", buf[9:12])
			return
		}
	}
	fmt.Fprintf(os.Stderr, "handshake: %.3f s\n", time.Since(start).Seconds())
	fmt.Println("refused")
}
