// tlsclient.go - a TLS client that presents whatever certificate it is given, with no
// checks of its own on it (OpenSSL's client refuses to sign with a certificate whose key
// usage lacks digitalSignature, so it cannot show what the server does with one).
//
//	tlsclient HOST:PORT CERT KEY PATH   (prints the HTTP status code, or 000)
package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
)

func main() {
	cert, err := tls.LoadX509KeyPair(os.Args[2], os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates:       []tls.Certificate{cert},
		InsecureSkipVerify: true, // the server is not what is tested here
	}}}
	resp, err := client.Get("https://" + os.Args[1] + os.Args[4])
	if err != nil {
		fmt.Println("000")
		return
	}
	resp.Body.Close()
	fmt.Printf("%03d\n", resp.StatusCode)
}
