# packaging/install-test.sh: the install test of packaging/test, sourced by
# it (it uses pass, fail, skip, $work, $version from there).
#
# install_test ARCH installs dist/pitweet_<version>_ARCH.deb into a fresh
# Debian bookworm root made with debootstrap --variant=minbase, then checks
# the user, groups, files, modes and enabled service; runs pitweet in it;
# upgrades to a newer version from credentials kept as the first release
# kept them (root:pitweet 0640) and checks that the configuration, the
# credentials and the outbox survive and the credentials are root's alone
# again; removes (they still survive) and purges (they are gone).

# shellcheck shell=bash disable=SC2154 # work, version: set by packaging/test

debian_mirror=${PITWEET_DEBIAN_MIRROR:-http://deb.debian.org/debian}
root_cache=/var/cache/pitweet-test

# binfmt_runs ARCH: whether the kernel already runs ARCH binaries through
# qemu-user with the fix-binary flag, so a chroot of that architecture
# works without qemu inside it.
binfmt_runs() {
	local entry
	case $1 in
	arm64) entry=/proc/sys/fs/binfmt_misc/qemu-aarch64 ;;
	armhf) entry=/proc/sys/fs/binfmt_misc/qemu-arm ;;
	*) return 1 ;;
	esac
	[ -r "$entry" ] && grep -q '^enabled' "$entry" && grep -q '^flags:.*F' "$entry"
}

# debian_root ARCH DIR: unpack a bookworm minbase root with adduser and
# ca-certificates (pitweet's Depends) into DIR, from the cache if there.
debian_root() {
	local arch=$1 dir=$2 tarball="$root_cache/bookworm-$1-minbase.tar"
	if [ ! -s "$tarball" ]; then
		echo "making a Debian bookworm $arch root (once; cached in $tarball)"
		local start fresh="$work/debootstrap-$arch"
		start=$(date +%s%N)
		if ! debootstrap --variant=minbase --arch="$arch" --include=adduser,ca-certificates \
			bookworm "$fresh" "$debian_mirror" >"$work/debootstrap-$arch.log" 2>&1; then
			tail -n 20 "$work/debootstrap-$arch.log"
			return 1
		fi
		echo "debootstrap took $(seconds_since "$start") s"
		mkdir -p "$root_cache"
		tar -C "$fresh" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
		rm -rf "$fresh"
	fi
	mkdir -p "$dir"
	tar -C "$dir" -xf "$tarball"
}

# in_root CMD...: run CMD in the Debian root, as root.
in_root() { chroot "$chroot_dir" "$@"; }
# as_pitweet CMD...: run CMD in the Debian root as the daemon's user, with
# its groups, as systemd would.
as_pitweet() { in_root setpriv --reuid=pitweet --regid=pitweet --init-groups "$@"; }

# stat_is PATH WANT: PATH in the root has mode, owner and group WANT
# (as stat's "%a %U:%G").
stat_is() {
	local got
	got=$(in_root stat -c '%a %U:%G' "$1" 2>&1) || true
	if [ "$got" = "$2" ]; then
		pass "$label: $1 is $2"
	else
		fail "$label: $1 is '$got', want $2"
	fi
}

install_test() {
	local arch=$1 label="install ($1)" deb newer out rc
	deb="dist/pitweet_${version}_$arch.deb"
	chroot_dir="$work/root-$arch"
	if ! debian_root "$arch" "$chroot_dir"; then
		fail "$label: could not make a Debian root with debootstrap from $debian_mirror"
		return
	fi
	mount -t proc proc "$chroot_dir/proc" 2>/dev/null || true
	cp "$deb" "$chroot_dir/tmp/"

	if out=$(in_root dpkg -i "/tmp/${deb##*/}" 2>&1); then
		pass "$label: dpkg -i ${deb##*/}"
	else
		fail "$label: dpkg -i ${deb##*/}:"
		indent <<<"$out"
		umount "$chroot_dir/proc" 2>/dev/null || true
		return
	fi

	out=$(in_root getent passwd pitweet | cut -d: -f6,7)
	if [ "$out" = "/var/lib/pitweet:/usr/sbin/nologin" ]; then
		pass "$label: system user pitweet, home /var/lib/pitweet, no login shell"
	else
		fail "$label: user pitweet has home:shell '$out'"
	fi
	out=$(in_root id -nG pitweet | tr ' ' '\n' | sort | tr '\n' ' ')
	if [ "$out" = "gpio i2c pitweet " ]; then
		pass "$label: pitweet is in groups gpio, i2c, pitweet"
	else
		fail "$label: pitweet is in groups '$out', want gpio i2c pitweet"
	fi
	stat_is /usr/bin/pitweet "755 root:root"
	stat_is /etc/pitweet/pitweet.toml "644 root:root"
	stat_is /etc/pitweet/credentials "600 root:root"
	stat_is /usr/lib/systemd/system/pitweet.service "644 root:root"
	if [ "$(in_root readlink -f /etc/systemd/system/multi-user.target.wants/pitweet.service)" = /usr/lib/systemd/system/pitweet.service ]; then
		pass "$label: pitweet.service is enabled (multi-user.target.wants)"
	else
		fail "$label: pitweet.service is not enabled"
	fi

	if out=$(in_root pitweet version 2>&1) && [[ "$out" == "pitweet $version ("* ]]; then
		pass "$label: pitweet version in the root: $out"
	else
		fail "$label: pitweet version in the root: $out"
	fi

	# What a maker does next: put the keys in, edit the config.
	printf 'api_key=k\napi_secret=s\naccess_token=t\naccess_secret=ts\n' >"$chroot_dir/etc/pitweet/credentials"
	echo "# edited by the owner" >>"$chroot_dir/etc/pitweet/pitweet.toml"
	in_root install -d -o pitweet -g pitweet -m 0750 /var/lib/pitweet
	echo "queued message" >"$chroot_dir/var/lib/pitweet/outbox-test"
	local creds_sum config_sum
	creds_sum=$(sha256sum <"$chroot_dir/etc/pitweet/credentials")
	config_sum=$(sha256sum <"$chroot_dir/etc/pitweet/pitweet.toml")

	# The keys are root's alone: the daemon's user, in group pitweet like
	# everyone who may use the control socket, cannot read them.
	if out=$(as_pitweet cat /etc/pitweet/credentials 2>&1); then
		fail "$label: user pitweet (group pitweet) can read the keys"
	else
		pass "$label: user pitweet (group pitweet) cannot read the keys: $out"
	fi

	# As root, as the manual says: the installed config (real hardware,
	# which this root does not have, so 1 with a message is a fair answer),
	# then the same config in fake mode, which must pass and say how the
	# keys are kept.
	rc=0
	out=$(in_root pitweet check --config /etc/pitweet/pitweet.toml 2>&1) || rc=$?
	if [[ "$out" == *"not built yet"* ]]; then
		skip "$label: 'pitweet check' is not built yet"
	else
		if [ $rc -le 1 ]; then
			pass "$label: pitweet check exits $rc: $(tail -n 1 <<<"$out")"
		else
			fail "$label: pitweet check exits $rc: $out"
		fi
		sed 's/^mode = "real"/mode = "fake"/' "$chroot_dir/etc/pitweet/pitweet.toml" >"$chroot_dir/tmp/fake.toml"
		rc=0
		out=$(in_root pitweet check --config /tmp/fake.toml 2>&1) || rc=$?
		if [ $rc -eq 0 ] && grep -q '^ok    credentials /etc/pitweet/credentials: mode 0600 root:root; ' <<<"$out"; then
			pass "$label: pitweet check passes on the installed config in fake mode: $(grep '^ok    credentials' <<<"$out")"
		else
			fail "$label: pitweet check on the installed config in fake mode exits $rc, or does not say mode 0600 root:root:"
			indent <<<"$out"
		fi
		rc=0
		out=$(as_pitweet pitweet check --config /tmp/fake.toml 2>&1) || rc=$?
		if [ $rc -eq 1 ] && [[ "$out" == *"permission denied; the keys are root's: run this as root (sudo)"* ]]; then
			pass "$label: pitweet check as user pitweet is refused the keys and says to run it as root"
		else
			fail "$label: pitweet check as user pitweet exits $rc: $out"
		fi
	fi

	# As the first release left it: group pitweet may read the keys. The
	# upgrade must take that away and keep the keys.
	in_root chown root:pitweet /etc/pitweet/credentials
	in_root chmod 0640 /etc/pitweet/credentials

	# Upgrade to the same package under a newer version.
	newer="$work/pitweet_${version}+1_$arch.deb"
	rm -rf "$work/repack"
	dpkg-deb -R "$deb" "$work/repack"
	sed -i "s/^Version: .*/Version: ${version}+1/" "$work/repack/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$work/repack" "$newer" >/dev/null
	cp "$newer" "$chroot_dir/tmp/"
	if out=$(in_root dpkg -i "/tmp/${newer##*/}" 2>&1) && [ "$(in_root dpkg-query -W -f "\${Version}" pitweet)" = "${version}+1" ]; then
		pass "$label: upgrade to ${version}+1"
	else
		fail "$label: upgrade to ${version}+1: $out"
	fi
	keeps() {
		if [ "$(sha256sum <"$chroot_dir/etc/pitweet/credentials")" = "$creds_sum" ] &&
			[ "$(sha256sum <"$chroot_dir/etc/pitweet/pitweet.toml")" = "$config_sum" ] &&
			[ -f "$chroot_dir/var/lib/pitweet/outbox-test" ]; then
			pass "$label: $1 keeps the edited config, the credentials and the outbox"
		else
			fail "$label: $1 lost the edited config, the credentials or the outbox"
		fi
	}
	keeps "upgrade"
	stat_is /etc/pitweet/credentials "600 root:root"

	if out=$(in_root dpkg -r pitweet 2>&1) && [ ! -e "$chroot_dir/usr/bin/pitweet" ]; then
		pass "$label: dpkg -r removes the program"
	else
		fail "$label: dpkg -r: $out"
	fi
	keeps "remove"

	if out=$(in_root dpkg -P pitweet 2>&1) && [ ! -e "$chroot_dir/etc/pitweet" ] && [ ! -e "$chroot_dir/var/lib/pitweet" ]; then
		pass "$label: dpkg -P removes /etc/pitweet and /var/lib/pitweet"
	else
		fail "$label: dpkg -P left files behind: $out $(ls -d "$chroot_dir/etc/pitweet" "$chroot_dir/var/lib/pitweet" 2>/dev/null)"
	fi
	if [ -z "$(in_root find /etc/systemd -name 'pitweet*')" ]; then
		pass "$label: no pitweet.service links or masks left after purge"
	else
		fail "$label: left in /etc/systemd after purge: $(in_root find /etc/systemd -name 'pitweet*')"
	fi

	umount "$chroot_dir/proc" 2>/dev/null || true
	rm -rf "$chroot_dir"
}
