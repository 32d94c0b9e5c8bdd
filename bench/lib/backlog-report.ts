/** The markdown bench/backlog.ts writes: a backlog run or a recovery run, with targets and verdicts. */
import { formatNumber as fmt, formatSize, renderMarkdownTable } from '../../src/cli/bench/report.js';
import type { DrainResult, RestartInfo } from './backlog-drain.js';
import type { BacklogConfig, PublishSummary } from './backlog-phases.js';
import type { PagingWindow } from './dist-snapshot.js';
import type { GitInfo, MachineInfo } from './machine.js';
import { notesBlock, verdict } from './peer-tables.js';

export interface BacklogMeta extends MachineInfo {
  readonly type: 'meta';
  readonly runner: string;
  readonly mode: 'backlog' | 'recovery';
  readonly date: string;
  readonly command: string;
  readonly settings: object;
  readonly switchyard: GitInfo & { version: string };
  readonly build: string;
  readonly paging_window: PagingWindow | null;
  readonly amqplib: string | null;
  readonly data_dir: string;
  readonly data_fs: string;
  readonly loadavg_at_start: number[];
}

interface EndMeta {
  readonly duration_s: number;
  readonly loadavg_at_end: number[];
}

const when = (meta: BacklogMeta) => `${meta.date.slice(0, 10)} ${meta.date.slice(11, 16)} UTC`;

function headerLines(meta: BacklogMeta, end: EndMeta): string[] {
  const sw = meta.switchyard;
  const p = meta.paging_window;
  const paging =
    p === null
      ? 'unknown'
      : `${fmt(p.messages)} messages${p.bytes === null ? '' : ` / ${fmt(p.bytes / 1048576)} MiB`} per durable queue`;
  return [
    `Command: \`${meta.command}\`.`,
    '',
    `Switchyard ${sw.version}${sw.commit === undefined ? '' : ` (commit ${sw.commit}${sw.src_modified === true ? ', with uncommitted changes in src/' : ''})`}, dist/ ${meta.build}, run from a snapshot of dist/; paging window ${paging}; client amqplib@${meta.amqplib ?? '?'}, Node ${meta.node}; data dir on ${meta.data_fs}. ` +
      `Machine: ${meta.cpus} x ${meta.cpu_model}, ${meta.mem_gb} GiB RAM. Load average (1 min) at start ${fmt(meta.loadavg_at_start[0], 2)}, at end ${fmt(end.loadavg_at_end[0], 2)}. Wall time ${fmt(end.duration_s / 60, 1)} min.`,
    '',
  ];
}

const anomalyLines = (anomalies: readonly string[]) =>
  notesBlock(anomalies, 'No errors, crashes or lost messages.');

export function backlogSection(o: {
  meta: BacklogMeta;
  endMeta: EndMeta;
  cfg: BacklogConfig;
  pub: PublishSummary;
  rst: (RestartInfo & { stop_ms: number; stop_code: number | null; stop_signal: string | null }) | null;
  drain: DrainResult | null;
  anomalies: readonly string[];
}): string {
  const { cfg, pub, rst, drain } = o;
  const L: string[] = [];
  L.push(
    `#### ${when(o.meta)}: backlog of ${fmt(cfg.messages)} x ${formatSize(cfg.size)}${cfg.quick ? ' (quick)' : ''}`,
    '',
  );
  L.push(...headerLines(o.meta, o.endMeta));
  L.push(
    `Publish phase: ${cfg.publishers} publisher connections, one ConfirmChannel each, at most ${cfg.window} unconfirmed per channel, persistent ${formatSize(cfg.size)} messages to one durable queue, no consumer; time limit ${cfg.maxSeconds} s.`,
    '',
  );
  const peak = Math.max(pub.vm_hwm_mb ?? 0, pub.max_rss_mb);
  const full = pub.complete;
  L.push('Targets:', '');
  L.push(
    `- backlog of ${fmt(cfg.messages)} reached: ${full ? 'yes' : `**no**: ${fmt(pub.confirmed)} confirmed (${fmt((pub.confirmed / cfg.messages) * 100, 1)}%), stopped: ${pub.stop_reason}`}`,
  );
  L.push(
    `- broker RSS < 1 GiB (1,024 MiB) during the backlog: peak ${fmt(peak)} MiB (VmHWM; highest 1 s sample ${fmt(pub.max_rss_mb)} MiB), ${verdict(peak > 0 ? peak < 1024 : null)}${full ? '' : ' (for the part reached)'}`,
  );
  L.push(
    `- publish rate over the last 10% >= 2/3 of the first 10%: ${fmt(pub.rate_last10)} vs ${fmt(pub.rate_first10)} msg/s = ${fmt(pub.last_over_first, 2)}x, ${verdict(pub.last_over_first === null ? null : pub.last_over_first >= 2 / 3)}${full ? '' : ' (10% of what was reached)'}`,
  );
  if (rst !== null) {
    L.push(
      `- every confirmed message recovered: ${fmt(rst.recovered_messages)} of ${fmt(pub.confirmed)}, ${rst.recovered_messages === pub.confirmed ? 'yes' : '**no**'}`,
    );
    const rpeak = Math.max(rst.vm_hwm_mb ?? 0, rst.rss_after_5s_mb ?? 0);
    L.push(
      `- the same backlog after the restart (recovered, nothing read back yet) also under 1 GiB: peak ${fmt(rpeak)} MiB (VmHWM after recovery), ${rpeak > 0 ? (rpeak < 1024 ? 'yes' : '**no**') : 'not measured'}${rpeak >= 0.9 * 1024 && rpeak < 1024 ? ', within 10% of the limit' : ''}`,
    );
  }
  if (drain !== null)
    L.push(
      `- first ${fmt(drain.received)} messages back in order, without gaps: ${drain.order_errors === 0 && drain.received === drain.wanted ? 'yes' : `**no** (${fmt(drain.order_errors)} errors, ${fmt(drain.received)} of ${fmt(drain.wanted)} received)`}`,
    );
  L.push('');
  const slope =
    pub.rss_bytes_per_msg === null
      ? ''
      : ` (${fmt(pub.rss_bytes_per_msg)} bytes of RSS per message in the backlog, from the first to the last 1 s sample${pub.rss_1gib_at === null ? '' : `; at that slope 1 GiB is reached near ${fmt(pub.rss_1gib_at / 1e6, 1)} million messages`})`;
  L.push(
    `Publish: ${fmt(pub.confirmed)} confirmed in ${fmt(pub.elapsed_s, 1)} s, ${fmt(pub.rate_avg)} msg/s on average (1 s rates ${fmt(pub.rate_1s_min)}-${fmt(pub.rate_1s_max)}); first 10% ${fmt(pub.rate_first10)} msg/s, last 10% ${fmt(pub.rate_last10)} msg/s. ` +
      `RSS at the end ${fmt(pub.end_rss_mb)} MiB${slope}; data dir ${fmt(pub.disk_mb)} MiB; queue depth reported by the broker ${fmt(pub.queue_depth)}. ` +
      `"Other" CPU (machine busy minus broker minus this client) median ${fmt(pub.other_cpu_median)}%, max ${fmt(pub.other_cpu_max)}% of one core.` +
      (pub.nacked > 0 ? ` **${fmt(pub.nacked)} nacked.**` : '') +
      (pub.unconfirmed > 0 ? ` **${fmt(pub.unconfirmed)} never confirmed.**` : ''),
    '',
  );
  if (pub.deciles.length > 0) {
    L.push(
      'By tenth of the messages confirmed (rate within that tenth; RSS at the 1 s sample nearest its end; broker CPU = mean of the 1 s samples ending inside the tenth, % of one core, all threads; µs/msg = that CPU / the rate, approximate):',
      '',
      renderMarkdownTable(
        ['messages', 'at s', 'msg/s', 'RSS MiB', 'broker CPU%', 'broker CPU µs/msg'],
        pub.deciles.map((d) => [
          fmt(d.upto),
          fmt(d.at_s, 1),
          fmt(d.rate),
          fmt(d.rss_mb),
          fmt(d.broker_cpu_pct),
          fmt(d.cpu_us_per_msg, 1),
        ]),
      ),
      '',
    );
  }
  if (rst !== null) {
    const perMessage =
      rst.recovered_messages && rst.rss_after_5s_mb !== null
        ? ` (${fmt(((rst.rss_after_5s_mb - (pub.base_rss_mb ?? 0)) * 1048576) / rst.recovered_messages)} bytes per recovered message above the fresh broker's ${fmt(pub.base_rss_mb)} MiB)`
        : '';
    L.push(
      `Restart on the same data dir (SIGTERM took ${fmt(rst.stop_ms)} ms${rst.stop_code !== 0 ? `, exit code ${rst.stop_code}, signal ${rst.stop_signal}` : ''}; page cache ${rst.cache}): the broker reported **recovered ${fmt(rst.recovered_queues)} durable queues with ${fmt(rst.recovered_messages)} messages in ${fmt(rst.recovery_ms)} ms**${rst.recovery_note === null ? '' : ` ${rst.recovery_note}`}; "listening" after ${fmt(rst.listen_ms)} ms and "ready" after ${fmt(rst.ready_ms)} ms from spawn; RSS ${fmt(rst.rss_at_ready_mb)} MiB at ready, ${fmt(rst.rss_after_5s_mb)} MiB 5 s later${perMessage}.`,
      '',
    );
  }
  if (drain !== null)
    L.push(
      `Drain after the restart: one consumer, prefetch ${cfg.prefetch}, an ack per message: ${fmt(drain.received)} messages in ${fmt(drain.drain_s, 2)} s = **${fmt(drain.rate)} msg/s** (first message ${fmt(drain.first_message_ms)} ms after basic.consume-ok; broker CPU median ${fmt(drain.broker_cpu_median)}%; peak RSS ${fmt(drain.max_rss_mb)} MiB); ${drain.order_errors === 0 ? "each publisher's messages in order with no gap" : `**${fmt(drain.order_errors)} out of order or missing**: ${drain.order_examples.join('; ')}`}; redelivered flag on ${fmt(drain.redelivered)}; queue depth ${fmt(drain.queue_depth_before)} -> ${fmt(drain.queue_depth_after)}.`,
      '',
    );
  L.push(...anomalyLines(o.anomalies));
  return L.join('\n');
}

export function recoverySection(o: {
  meta: BacklogMeta;
  endMeta: EndMeta;
  cfg: BacklogConfig;
  pub: PublishSummary;
  restarts: readonly (RestartInfo & { prev_stop_ms: number })[];
  anomalies: readonly string[];
}): string {
  const { cfg, pub, restarts } = o;
  const L: string[] = [];
  L.push(
    `#### ${when(o.meta)}: recovery of ${fmt(cfg.messages)} x ${formatSize(cfg.size)}${cfg.quick ? ' (quick)' : ''}`,
    '',
  );
  L.push(...headerLines(o.meta, o.endMeta));
  L.push(
    `Filled by ${cfg.publishers} publishers x ${cfg.window} unconfirmed: ${fmt(pub.confirmed)} confirmed in ${fmt(pub.elapsed_s, 1)} s (${fmt(pub.rate_avg)} msg/s; peak RSS ${fmt(Math.max(pub.vm_hwm_mb ?? 0, pub.max_rss_mb))} MiB); data dir ${fmt(pub.disk_mb)} MiB. ` +
      `Then SIGTERM and ${cfg.restarts} restart(s) per cache state on the same data dir. warm = the segment files in the page cache (as just after writing them); cold = this data dir's files evicted from the page cache with \`dd iflag=nocache\` just before the start (the disk is a virtual disk, whose host may cache too).`,
    '',
  );
  const timed = restarts.filter((r) => r.recovery_ms !== null);
  const worst = timed.length > 0 ? Math.max(...timed.map((r) => r.recovery_ms!)) : null;
  const byCache = (c: string) => timed.filter((r) => r.cache === c).map((r) => r.recovery_ms!);
  const perCache = cfg.cache
    .map((c) => {
      const v = byCache(c);
      return `${c} ${v.length > 0 ? `${v.map((x) => fmt(x / 1000, 2)).join(' / ')} s` : '-'}`;
    })
    .join('; ');
  L.push('Targets:', '');
  L.push(
    `- recovery of ${fmt(cfg.messages)} messages <= 5 s (as the broker reports it): ${perCache}; ${verdict(worst === null ? null : worst <= 5000)}${cfg.messages < 1_000_000 ? ' (fewer messages than the target names)' : ''}`,
  );
  L.push(
    `- every message recovered: ${restarts.every((r) => r.recovered_messages === pub.confirmed) ? `yes (${fmt(pub.confirmed)} each time)` : `**no**: ${restarts.map((r) => fmt(r.recovered_messages)).join(' / ')} of ${fmt(pub.confirmed)}`}`,
    '',
  );
  L.push(
    renderMarkdownTable(
      [
        'restart',
        'cache',
        'recovered messages',
        'recovery ms (broker)',
        '"listening" ms',
        '"ready" ms',
        'RSS at ready MiB',
        'RSS +5 s MiB',
        'SIGTERM before it ms',
      ],
      restarts.map((r, i) => [
        String(i + 1),
        r.cache,
        fmt(r.recovered_messages),
        fmt(r.recovery_ms),
        fmt(r.listen_ms),
        fmt(r.ready_ms),
        fmt(r.rss_at_ready_mb),
        fmt(r.rss_after_5s_mb),
        fmt(r.prev_stop_ms),
      ]),
    ),
    '',
    '"listening" and "ready" are from the spawn of the process (Node start-up included).',
    '',
  );
  L.push(...anomalyLines(o.anomalies));
  return L.join('\n');
}
