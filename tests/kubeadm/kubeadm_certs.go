// kubeadm_certs.go - an independent implementation of kubeadm's upload-certs encryption,
// written with Go's standard library only, in the way kubeadm's EncryptBytes and
// DecryptBytes work: AES-256-GCM, 12-byte random nonce prefixed, tag appended, no
// associated data; Secret data keys are file names with '/' replaced by '-'.
//
//	go run kubeadm_certs.go seal KEYHEX PKIDIR > secret.json
//	go run kubeadm_certs.go open KEYHEX < secret.json     (prints "sha256 name" lines)
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type secret struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   map[string]string `json:"metadata"`
	Type       string            `json:"type"`
	Data       map[string][]byte `json:"data"`
}

func gcmFor(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

func encrypt(data, key []byte) []byte {
	gcm := gcmFor(key)
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return gcm.Seal(nonce, nonce, data, nil)
}

func decrypt(data, key []byte) ([]byte, error) {
	gcm := gcmFor(key)
	if len(data) < gcm.NonceSize() {
		return nil, fmt.Errorf("size of data is less than the nonce")
	}
	return gcm.Open(nil, data[:gcm.NonceSize()], data[gcm.NonceSize():], nil)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: kubeadm_certs seal KEYHEX PKIDIR | open KEYHEX")
		os.Exit(2)
	}
	key, err := hex.DecodeString(os.Args[2])
	if err != nil {
		panic(err)
	}
	switch os.Args[1] {
	case "seal":
		names := []string{"ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt",
			"front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key"}
		s := secret{APIVersion: "v1", Kind: "Secret", Type: "Opaque",
			Metadata: map[string]string{"name": "kubeadm-certs", "namespace": "kube-system"},
			Data:     map[string][]byte{}}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(os.Args[3], n))
			if err != nil {
				panic(err)
			}
			s.Data[strings.ReplaceAll(n, "/", "-")] = encrypt(b, key)
		}
		out, _ := json.MarshalIndent(s, "", "  ")
		fmt.Println(string(out))
	case "open":
		var s secret
		if err := json.NewDecoder(os.Stdin).Decode(&s); err != nil {
			panic(err)
		}
		var lines []string
		for k, v := range s.Data {
			pt, err := decrypt(v, key)
			if err != nil {
				fmt.Fprintln(os.Stderr, k+":", err)
				os.Exit(1)
			}
			lines = append(lines, fmt.Sprintf("%x %s", sha256.Sum256(pt), k))
		}
		sort.Strings(lines)
		for _, l := range lines {
			fmt.Println(l)
		}
	}
}
