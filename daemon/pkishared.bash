# bash completion for pkishared(8), installed by the package as
# /usr/share/bash-completion/completions/pkishared. The flags are read from the binary's
# own --help, so they never drift from what it accepts.
_pkishared() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	case $prev in
	--config | --tls-cert | --tls-key | --client-ca | --admin-socket | --coord-socket)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
		;;
	--enrolled-fetch)
		mapfile -t COMPREPLY < <(compgen -W "yes no" -- "$cur")
		return
		;;
	--log-level)
		mapfile -t COMPREPLY < <(compgen -W "error warning notice info debug" -- "$cur")
		return
		;;
	esac
	local flags
	flags=$("${COMP_WORDS[0]}" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
	mapfile -t COMPREPLY < <(compgen -W "$flags" -- "$cur")
}
complete -F _pkishared pkishared
