/**
 * The durable message log (DESIGN.md section 4). The broker uses MessageLog; SegmentLog is the
 * raw record layer beneath it.
 */
export {
  type Appended,
  type LogTxn,
  MessageLog,
  type MessageLogOptions,
  type MessageLogStats,
  type Recovered,
  type RecoveredMessage,
  type RecoveredQueue,
} from './message-log.js';
export type { LogMessage } from './records.js';
export {
  type AppendResult,
  type CorruptInfo,
  type DurableCallback,
  type RecordLocation,
  SegmentLog,
  type SegmentLogOptions,
  type TruncateInfo,
} from './segments.js';
