# shellcheck shell=bash
# Helpers shared by the test/vm scripts. Sourced, not executed.

# Modules the VM loads at boot, in the order they are asked for. Their
# dependencies (modules.dep) and pre-softdeps (modules.softdep) come first.
# Names that are built into the kernel, or absent, are skipped with a note.
# "a|b" takes the first of a and b that the kernel has, as a module or built in
# (modules.builtin): up to 6.x crc32c comes from crc32c_generic, crc32c_intel and
# libcrc32c; from 7.x it is part of the crc32 library, built in.
# shellcheck disable=SC2034  # used by the scripts that source this file
BLAZYVM_DEFAULT_MODULES=(xor raid6_pq 'crc32c_generic|crc32' 'crc32c_intel|crc32' 'libcrc32c|crc32'
	btrfs loop ublk_drv brd nbd virtio_blk)

vm_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
vm_die() { vm_log "error: $*"; exit 1; }

# vm_kernel_suite CHOICE: the Debian suite of a kernel choice (stable|backports), or dies.
vm_kernel_suite() {
	case $1 in
	stable) echo trixie ;;
	backports) echo trixie-backports ;;
	*) vm_die "unknown kernel choice '$1' (stable or backports)" ;;
	esac
}

vm_default_cache() { printf '%s\n' "${BLAZY_CACHE:-$HOME/.cache/blazy}/vm-kernel"; }

# vm_resolve_modules MODDIR NAME...
# MODDIR is lib/modules/<release> with a modules.dep. Prints on stdout the
# paths (relative to MODDIR) of the named modules and everything they need,
# one per line, in an order insmod can load them. Notes go to stderr.
vm_resolve_modules() {
	local moddir=$1
	shift
	[[ -r $moddir/modules.dep ]] || vm_die "no modules.dep in $moddir"
	local -A _path=() _deps=() _builtin=() _softpre=() _seen=()
	local -a _order=() _inbuilt=() _missing=()
	local line p d n word in_pre

	while IFS= read -r line; do
		p=${line%%:*}
		d=${line#*:}
		n=${p##*/}
		n=${n%%.ko*}
		n=${n//-/_}
		_path[$n]=$p
		_deps[$n]=$d
	done <"$moddir/modules.dep"

	if [[ -r $moddir/modules.builtin ]]; then
		while IFS= read -r p; do
			n=${p##*/}
			n=${n%%.ko*}
			_builtin[${n//-/_}]=1
		done <"$moddir/modules.builtin"
	fi

	# "softdep MOD pre: a b post: c" (from depmod, out of the modules' modinfo)
	if [[ -r $moddir/modules.softdep ]]; then
		while read -r -a line; do
			[[ ${line[0]:-} == softdep && ${#line[@]} -ge 3 ]] || continue
			n=${line[1]//-/_}
			in_pre=0
			for word in "${line[@]:2}"; do
				case $word in
				pre:) in_pre=1 ;;
				post:) in_pre=0 ;;
				*) [[ $in_pre == 1 ]] && _softpre[$n]+=" $word" ;;
				esac
			done
		done <"$moddir/modules.softdep"
	fi

	_vm_visit() { # NAME HARD(1 = asked for or a hard dependency)
		local name=${1//-/_} hard=$2 dep alias_to found
		[[ -n ${_seen[$name]:-} ]] && return 0
		_seen[$name]=1
		if [[ -z ${_path[$name]:-} ]]; then
			if [[ -n ${_builtin[$name]:-} ]]; then
				[[ $hard == 1 ]] && _inbuilt+=("$name")
				return 0
			fi
			# A softdep may name an alias ("crc32c"): load what provides it.
			found=0
			if [[ -r $moddir/modules.alias ]]; then
				while read -r alias_to; do
					_vm_visit "$alias_to" 0
					found=1
				done < <(awk -v a="$1" '$1 == "alias" && $2 == a { print $3 }' "$moddir/modules.alias")
			fi
			[[ $found == 0 && $hard == 1 ]] && _missing+=("$name")
			return 0
		fi
		for dep in ${_softpre[$name]:-}; do
			_vm_visit "$dep" 0
		done
		for dep in ${_deps[$name]}; do
			dep=${dep##*/}
			dep=${dep%%.ko*}
			_vm_visit "$dep" 1
		done
		_order+=("${_path[$name]}")
	}

	local alt pick
	for n in "$@"; do
		pick=${n%%|*}
		if [[ $n == *"|"* ]]; then
			for alt in ${n//|/ }; do
				if [[ -n ${_path[${alt//-/_}]:-} || -n ${_builtin[${alt//-/_}]:-} ]]; then
					pick=$alt
					break
				fi
			done
		fi
		_vm_visit "$pick" 1
	done
	unset -f _vm_visit

	[[ ${#_inbuilt[@]} -eq 0 ]] || vm_log "built into the kernel: ${_inbuilt[*]}"
	[[ ${#_missing[@]} -eq 0 ]] || vm_log "not in this kernel (skipped): ${_missing[*]}"
	[[ ${#_order[@]} -eq 0 ]] || printf '%s\n' "${_order[@]}"
}

# The Debian mirrors this machine already uses (not the security archive), one URI per line.
vm_find_mirror() {
	local f line key val uri="" types="" suites="" enabled=yes
	emit() { # prints the stanza's first URI if it is a main-archive entry
		if [[ -n $uri && $enabled != no && " $types " == *" deb "* && $suites != *-security* && $uri != *security* ]]; then
			printf '%s\n' "${uri%% *}"
		fi
		uri="" types="" suites="" enabled=yes
	}
	# deb822 files: stanzas separated by blank lines
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		while IFS= read -r line || [[ -n $line ]]; do
			[[ $line == "#"* ]] && continue
			if [[ -z ${line//[[:space:]]/} ]]; then
				emit
				continue
			fi
			[[ $line == *:* ]] || continue
			key=${line%%:*}
			read -r val <<<"${line#*:}"
			case ${key,,} in
			types) types=$val ;;
			uris) uri=$val ;;
			suites) suites=$val ;;
			enabled) enabled=${val,,} ;;
			esac
		done <"$f"
		emit
	done
	# one-line format: deb [options] URI SUITE COMPONENT...
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			if ($(i + 1) !~ /-security/ && $i !~ /security/) print $i
		}' "$f"
	done
}
