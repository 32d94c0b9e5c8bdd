/** The segment log's public types (segments.ts). */
import type { FileHandle } from 'node:fs/promises';
import type { CorruptInfo, RecordVisitor } from './scan.js';

/** Where a record's payload (or a part of it) lies. */
export interface RecordLocation {
  readonly segment: number;
  /** File offset of the first payload byte. */
  readonly offset: number;
  readonly length: number;
}

/** What `append` returns: the payload's location and the batch (epoch) that will hold it. */
export interface AppendResult extends RecordLocation {
  readonly epoch: number;
}

/** A torn tail cut from the last segment at open. */
export interface TruncateInfo {
  readonly segment: number;
  /** The segment's new size. */
  readonly offset: number;
  /** Bytes removed. */
  readonly removed: number;
}

export type DurableCallback = (err: Error | undefined) => void;

export interface SegmentLogOptions {
  /** A segment is rolled before it would exceed this many bytes. Default 64 MiB. */
  segmentSize?: number;
  /** Read size while scanning at open. Default 8 MiB. */
  scanChunkSize?: number;
  /** Schedule flushes by itself (setImmediate after a batch's first append). Default true. */
  autoFlush?: boolean;
  /** Read handles of sealed segments kept open (least recently used are closed). Default 64. */
  maxOpenFiles?: number;
  /** Every valid record found at open, in log order; the payload is a view valid during the call. */
  onRecord?: RecordVisitor;
  /** A damaged record in the middle of the log, skipped. */
  onCorrupt?: (info: CorruptInfo) => void;
  /** A torn tail of the last segment, cut away. */
  onTruncate?: (info: TruncateInfo) => void;
  /** For tests: opens files (e.g. to count or delay datasync). */
  openFile?: (path: string, flags: string) => Promise<FileHandle>;
}

export interface SegmentLogStats {
  records: number;
  flushes: number;
  datasyncs: number;
  writevCalls: number;
  bytesWritten: number;
}
