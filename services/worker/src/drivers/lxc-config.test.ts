import { describe, expect, it } from 'vitest';
import { renderBusyboxRcs, renderLxcConfig, renderStartHostScript, shellQuote } from './lxc-config.js';
import { parseLxcInfo, parseLxcLs, vethPairOf } from './lxc.js';

const network = { bridge: 'br-hv1', vlan: 101, vethPair: 'v-a1', ip: '10.20.0.11', prefix: 24, gateway: '10.20.0.1' };

describe('renderLxcConfig()', () => {
  it('renders a container whose port the switch driver owns', () => {
    expect(
      renderLxcConfig({ name: 'a1', rootfs: { kind: 'dir', path: '/var/lib/fjord/lxc/a1/rootfs' }, network, attach: 'switch-driver', startHostScript: '/var/lib/fjord/lxc/a1/fjord-start-host.sh' }),
    ).toBe(
      [
        '# Written by Fjord from the container spec; edits are overwritten.',
        'lxc.uts.name = a1',
        'lxc.rootfs.path = dir:/var/lib/fjord/lxc/a1/rootfs',
        'lxc.signal.halt = SIGUSR1',
        'lxc.signal.reboot = SIGTERM',
        'lxc.autodev = 1',
        'lxc.tty.max = 1',
        'lxc.pty.max = 1',
        'lxc.cap.drop = sys_module mac_admin mac_override sys_time',
        'lxc.mount.auto = cgroup:mixed proc:mixed sys:ro',
        'lxc.mount.entry = shm dev/shm tmpfs defaults,create=dir 0 0',
        'lxc.mount.entry = /lib lib none ro,bind,optional 0 0',
        'lxc.mount.entry = /usr/lib usr/lib none ro,bind,optional 0 0',
        'lxc.mount.entry = /lib64 lib64 none ro,bind,optional 0 0',
        'lxc.net.0.type = veth',
        'lxc.net.0.name = eth0',
        'lxc.net.0.flags = up',
        'lxc.net.0.veth.pair = v-a1',
        'lxc.net.0.ipv4.address = 10.20.0.11/24',
        'lxc.net.0.ipv4.gateway = 10.20.0.1',
        'lxc.hook.version = 1',
        'lxc.hook.start-host = /var/lib/fjord/lxc/a1/fjord-start-host.sh',
        '',
      ].join('\n'),
    );
  });

  it('lets LXC plug the port into the OVS bridge with its tag when asked', () => {
    const text = renderLxcConfig({
      name: 'b1',
      rootfs: { kind: 'overlay', lower: '/t/busybox/rootfs', upper: '/r/b1/delta' },
      network: { bridge: 'br-hv2', vlan: 102, vethPair: 'v-b1', ip: '10.20.0.21', prefix: 24, hwaddr: '02:00:00:00:00:21' },
      attach: 'lxc',
      startHostScript: '/r/b1/hook.sh',
    });
    expect(text.split('\n')[2]).toBe('lxc.rootfs.path = overlay:/t/busybox/rootfs:/r/b1/delta');
    expect(text.split('\n').slice(15)).toEqual([
      'lxc.net.0.name = eth0',
      'lxc.net.0.flags = up',
      'lxc.net.0.veth.pair = v-b1',
      'lxc.net.0.link = br-hv2',
      'lxc.net.0.veth.vlan.id = 102',
      'lxc.net.0.hwaddr = 02:00:00:00:00:21',
      'lxc.net.0.ipv4.address = 10.20.0.21/24',
      'lxc.hook.version = 1',
      'lxc.hook.start-host = /r/b1/hook.sh',
      '',
    ]);
  });
});

describe('renderBusyboxRcs()', () => {
  const template = '#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n/bin/udhcpc\n';

  it('drops udhcpc so the static address survives boot', () => {
    expect(renderBusyboxRcs(template)).toBe('#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n');
  });

  it('appends the command, quoted, in the background, and replaces it on the next render', () => {
    const once = renderBusyboxRcs(template, ['/bin/sh', '-c', "echo it's a1 > /www/index.html"]);
    expect(once).toBe(
      "#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n# fjord: begin command\nsetsid /bin/sh -c 'echo it'\\''s a1 > /www/index.html' </dev/null >/dev/null 2>&1 &\n# fjord: end command\n",
    );
    expect(renderBusyboxRcs(once, ['httpd', '-p', '80'])).toBe(
      '#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n# fjord: begin command\nsetsid httpd -p 80 </dev/null >/dev/null 2>&1 &\n# fjord: end command\n',
    );
    expect(renderBusyboxRcs(once)).toBe('#!/bin/sh\n/bin/syslogd\n/bin/mount -a\n');
  });
});

describe('shellQuote()', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    expect(shellQuote('/bin/httpd')).toBe('/bin/httpd');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
  });
});

describe('vethPairOf()', () => {
  it('reads the host-side veth name back from a rendered config', () => {
    const text = renderLxcConfig({ name: 'a1', rootfs: { kind: 'dir', path: '/r' }, network, attach: 'switch-driver', startHostScript: '/h.sh' });
    expect(vethPairOf(text)).toBe('v-a1');
    expect(vethPairOf('lxc.uts.name = x\n')).toBeNull();
  });
});

describe('renderStartHostScript()', () => {
  it('turns offload off, waits for the switch to attach the host end, then brings it up', () => {
    expect(renderStartHostScript({ vethPair: 'v-a1', txChecksumOff: true, attachWaitCs: 200 })).toBe(
      [
        '#!/bin/sh',
        '# Written by Fjord: prepares the container network before LXC reports it running.',
        'set -e',
        'nsenter -t "$LXC_PID" -n ethtool -K eth0 tx off >/dev/null',
        'i=0',
        'while [ "$i" -lt 200 ]; do',
        '  { read -r flags </sys/class/net/v-a1/flags; } 2>/dev/null || flags=0',
        '  [ $((flags & 0x100)) -ne 0 ] && break',
        '  sleep 0.01',
        '  i=$((i + 1))',
        'done',
        'ip link set dev v-a1 up',
        '',
      ].join('\n'),
    );
    expect(renderStartHostScript({ vethPair: 'v-b1', txChecksumOff: false, attachWaitCs: 5 })).not.toContain('ethtool');
  });
});

describe('parseLxcLs() and parseLxcInfo()', () => {
  it('reads names, states and pids', () => {
    const out = 'NAME STATE   PID  \nb1   STOPPED -    \na1   RUNNING 4242 \nc1   STARTING -\n';
    expect(parseLxcLs(out)).toEqual([
      { name: 'a1', state: 'running', pid: 4242 },
      { name: 'b1', state: 'stopped', pid: null },
      { name: 'c1', state: 'transitioning', pid: null },
    ]);
    expect(parseLxcLs('')).toEqual([]);
    expect(parseLxcInfo('State:          RUNNING\nPID:            16689\n')).toEqual({ state: 'running', pid: 16689 });
    expect(parseLxcInfo('State:          STOPPED\n')).toEqual({ state: 'stopped', pid: null });
  });
});
