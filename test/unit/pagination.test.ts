import { describe, expect, it } from '@jest/globals';
import { decodeCursor, encodeCursor } from '../../shared/adapters/dynamodb/pagination.ts';
import { BadRequestError } from '../../shared/domain/errors.ts';

const keys = ['pk', 'sk'] as const;

describe('cursors', () => {
  it('round-trips a key of the same partition', () => {
    const key = { pk: 'TENANT#a', sk: 'BOT#1' };
    expect(decodeCursor(encodeCursor(key) ?? '', { pk: 'TENANT#a' }, keys)).toEqual(key);
    expect(encodeCursor(undefined)).toBeNull();
  });

  it("refuses another partition's cursor and garbage", () => {
    const foreign = encodeCursor({ pk: 'TENANT#b', sk: 'BOT#1' }) ?? '';
    const extra = encodeCursor({ pk: 'TENANT#a', sk: 'BOT#1', x: 'y' }) ?? '';
    for (const cursor of [foreign, extra, 'not-base64-json', Buffer.from('[1]').toString('base64url')]) {
      expect(() => decodeCursor(cursor, { pk: 'TENANT#a' }, keys)).toThrow(BadRequestError);
    }
  });
});
