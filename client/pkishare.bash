# bash completion for pkishare(1), installed by the package as
# /usr/share/bash-completion/completions/pkishare. Verbs and subcommands are listed
# here; each one's flags are read from the binary's own --help, so they never drift
# from what it accepts.
_pkishare() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verbs="pki upload-certs delete-certs reload status certificate-key token
		print-join-command join decrypt export"
	local verb=${COMP_WORDS[1]:-} sub= subs=
	if [ "$COMP_CWORD" -eq 1 ]; then
		mapfile -t COMPREPLY < <(compgen -W "$verbs --help --version" -- "$cur")
		return
	fi
	case $verb in
	pki) subs="init serving-cert ca-cert-hash node-certs" ;;
	token) subs="create list delete" ;;
	esac
	if [ -n "$subs" ]; then
		if [ "$COMP_CWORD" -eq 2 ]; then
			mapfile -t COMPREPLY < <(compgen -W "$subs --help" -- "$cur")
			return
		fi
		sub=${COMP_WORDS[2]}
	fi
	case $prev in
	--pki-dir | --dir | --out)
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		return
		;;
	--cert | --key | --config | --external-etcd-ca | --external-etcd-cert | --external-etcd-key | --admin-socket)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	--key-type | --serving-key-type)
		mapfile -t COMPREPLY < <(compgen -W "rsa ecdsa" -- "$cur")
		return
		;;
	--encryption-algorithm)
		mapfile -t COMPREPLY < <(compgen -W "RSA-2048 RSA-3072 RSA-4096 ECDSA-P256 ECDSA-P384" -- "$cur")
		return
		;;
	--format)
		mapfile -t COMPREPLY < <(compgen -W "native kubeadm-secret" -- "$cur")
		return
		;;
	-o)
		mapfile -t COMPREPLY < <(compgen -W "json" -- "$cur")
		return
		;;
	--certificate-key)
		mapfile -t COMPREPLY < <(compgen -W "-" -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		local flags
		flags=$("${COMP_WORDS[0]}" "$verb" ${sub:+"$sub"} --help 2>/dev/null |
			grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$flags --help" -- "$cur")
		return
	fi
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -F _pkishare pkishare
