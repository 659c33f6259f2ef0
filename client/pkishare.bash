# bash completion for pkishare(1), installed by the package as
# /usr/share/bash-completion/completions/pkishare. Verbs and subcommands are listed
# here; each one's flags are read from the binary's own --help, so they never drift
# from what it accepts.
_pkishare() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local verbs="pki upload-certs delete-certs reload status certificate-key token
		print-join-command join decrypt export help version"
	# The printed commands start with the secrets' variables
	# (PKISHARE_CERTIFICATE_KEY=... pkishare join ...): the command is the first word
	# that is not an assignment.
	local c=0
	while [ "$c" -lt "$COMP_CWORD" ] && [[ ${COMP_WORDS[c]} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]]; do
		c=$((c + 1))
	done
	local cmd=${COMP_WORDS[c]} verb=${COMP_WORDS[c + 1]:-} sub= subs=
	# pkishare help VERB [SUB]: the verbs, then the verb's subcommands.
	if [ "$verb" = help ]; then
		[ "$COMP_CWORD" -eq $((c + 2)) ] &&
			mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
		return
	fi
	if [ "$COMP_CWORD" -eq $((c + 1)) ]; then
		mapfile -t COMPREPLY < <(compgen -W "$verbs --help --version" -- "$cur")
		return
	fi
	case $verb in
	pki) subs="init serving-cert ca-cert-hash node-certs client-ca client-cert etcd-client-cert" ;;
	token) subs="create list delete" ;;
	esac
	if [ -n "$subs" ]; then
		if [ "$COMP_CWORD" -eq $((c + 2)) ]; then
			mapfile -t COMPREPLY < <(compgen -W "$subs --help" -- "$cur")
			return
		fi
		sub=${COMP_WORDS[c + 2]}
	fi
	case $prev in
	--pki-dir | --ca-dir | --dir | --out)
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
	-o | --output)
		local formats=json
		[ "$verb" = token ] && formats="json yaml"
		mapfile -t COMPREPLY < <(compgen -W "$formats" -- "$cur")
		return
		;;
	--description)
		# Free text (kubeadm's token description): nothing to offer.
		COMPREPLY=()
		return
		;;
	--certificate-key)
		# Standard input: a key typed here would be readable by every local user.
		mapfile -t COMPREPLY < <(compgen -W "-" -- "$cur")
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		local flags
		flags=$("$cmd" "$verb" ${sub:+"$sub"} --help 2>/dev/null |
			grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$flags --help" -- "$cur")
		return
	fi
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -F _pkishare pkishare
