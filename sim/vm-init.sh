#!/bin/busybox sh
# /init of a VM host's initramfs (built by sim/vm-image.sh): bring up what
# the agent needs from the kernel, mount the persistent data disk, run the
# real attest-agent on the kernel's TPM and event log. Lines starting with
# "attest-vm:" on the console are read by attest-sim on the host.
/bin/busybox --install -s
export PATH=/usr/bin:/bin:/sbin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t securityfs securityfs /sys/kernel/security
mount -t tmpfs tmpfs /tmp

for m in $(cat /lib/modules/order); do
	insmod /lib/modules/$m.ko || echo "attest-vm: insmod $m failed"
done
mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null

sb=$(od -An -tu1 /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c 2>/dev/null | awk "{print \$5}")
echo "attest-vm: kernel $(uname -r) secure-boot=${sb:-absent} lockdown=$(cat /sys/kernel/security/lockdown 2>/dev/null)"
log=/sys/kernel/security/tpm0/binary_bios_measurements
[ -e $log ] && echo "attest-vm: event log $(cat $log | wc -c) bytes"
dmesg | grep -E "^\[ *[0-9.]*\] (efi: |tpm|TPM|Kernel command line|Secure boot)" | sed 's/^/attest-vm: dmesg: /'
for t in /sys/class/tpm/tpm*; do
	[ -e "$t/device/driver" ] && echo "attest-vm: $(basename $t) driver $(basename $(readlink $t/device/driver))"
done

ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2

# The data disk is the virtio disk whose serial is attest-data. FAT: files
# 0600 and directories 0700 as the agent wants them; written through.
data=""
for s in /sys/block/vd*/serial; do
	[ "$(cat $s 2>/dev/null)" = attest-data ] && data=/dev/$(basename $(dirname $s))
done
if [ -z "$data" ] || ! mount -t vfat -o uid=0,gid=0,fmask=0177,dmask=0077,quiet,flush,sync "$data" /data; then
	echo "attest-vm: no data disk; the agent's identity will not survive a reboot"
fi

set -- --listen 0.0.0.0:7443 --tcti device:/dev/tpmrm0 \
	--eventlog /sys/kernel/security/tpm0/binary_bios_measurements --data-dir /data/agent
[ -s /data/trust-verifier ] && set -- "$@" --trust-verifier "$(head -n1 /data/trust-verifier)"

# Another user of the kernel's resource manager (scenario: the verifier's
# quotes must not fail because someone else uses /dev/tpmrm0 meanwhile).
if [ -e /data/tpm-noise ]; then
	(
		n=0
		while :; do
			attest-agent evidence --tcti device:/dev/tpmrm0 \
				--eventlog /sys/kernel/security/tpm0/binary_bios_measurements \
				--nonce 00112233445566778899aabbccddeeff >/dev/null 2>/tmp/noise.err &&
				n=$((n + 1)) && echo "attest-vm: tpm-noise $n"
		done
	) &
fi

echo "attest-vm: starting attest-agent"
attest-agent "$@" 2>&1 | while IFS= read -r l; do echo "attest-vm: agent: $l"; done
echo "attest-vm: attest-agent exited"
sync
while :; do sleep 3600; done
