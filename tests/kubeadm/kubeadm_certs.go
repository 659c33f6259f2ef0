// kubeadm_certs.go - an independent implementation of kubeadm's upload-certs encryption,
// written with Go's standard library only, in the way kubeadm's EncryptBytes and
// DecryptBytes work: AES-256-GCM, 12-byte random nonce prefixed, tag appended, no
// associated data; Secret data keys are file names with '/' replaced by '-'.
//
//	go run kubeadm_certs.go seal KEYHEX PKIDIR > secret.json
//	go run kubeadm_certs.go open KEYHEX < secret.json     (prints "sha256 name" lines)
//	go run kubeadm_certs.go download KEYHEX local|external < secret.json
//
// open and download take the Secret, or a v1 List holding it (pkishare export's). download
// is what kubeadm join's DownloadCerts does with it (copycerts.go): decrypt every non-empty
// entry (getDataFromSecret: any failure fails all), then require every entry of
// certsToTransfer for the cluster's etcd (local: etcd-ca.*, external: external-etcd-*),
// an empty one meaning "not on disk at upload, not written".
package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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

// The Secret from stdin: the object itself or the Secret item of a List.
func readSecret() secret {
	var doc struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	if doc.Kind == "List" {
		for _, it := range doc.Items {
			var probe struct {
				Kind string `json:"kind"`
			}
			if json.Unmarshal(it, &probe) == nil && probe.Kind == "Secret" {
				raw = it
				break
			}
		}
	}
	var s secret
	if err := json.Unmarshal(raw, &s); err != nil {
		panic(err)
	}
	return s
}

func download(s secret, key []byte, etcd string) error {
	data := map[string][]byte{}
	for k, v := range s.Data {
		if len(v) == 0 {
			data[k] = []byte{}
			continue
		}
		pt, err := decrypt(v, key)
		if err != nil {
			return fmt.Errorf("error decoding secret data with provided key: %v", err)
		}
		data[k] = pt
	}
	want := []string{"ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key"}
	if etcd == "external" {
		want = append(want, "external-etcd-ca.crt", "external-etcd.crt", "external-etcd.key")
	} else {
		want = append(want, "etcd/ca.crt", "etcd/ca.key")
	}
	for _, n := range want {
		d, found := data[strings.ReplaceAll(n, "/", "-")]
		if !found {
			return fmt.Errorf("the Secret does not include the required certificate or key - name: %s", n)
		}
		if len(d) == 0 {
			fmt.Println("empty", n)
		} else {
			fmt.Printf("%x %s\n", sha256.Sum256(d), n)
		}
	}
	return nil
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
	case "download":
		if err := download(readSecret(), key, os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "open":
		s := readSecret()
		var lines []string
		for k, v := range s.Data {
			if len(v) == 0 {
				lines = append(lines, "empty "+k)
				continue
			}
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
