import { messageStoreContract, recordStoreContract } from '../../../test/support/store-contract.js';
import { MemoryMessageStore } from './messages.js';
import { MemoryRecordStore } from './records.js';

messageStoreContract('memory', () => Promise.resolve(new MemoryMessageStore()));
recordStoreContract('memory', () => Promise.resolve(new MemoryRecordStore()));
