/**
 * An entry stored once, in rows cut before each record (entry-rows.ts): it reads back byte for
 * byte by key and by range, each record reads back from its own row, and a damaged store is
 * named, not misread.
 */
import { encodeCanonical, type SignedEntry, type SignedRecord } from '@legation/protocol'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  deleteEntryRows,
  docPlaceOf,
  docPlaces,
  docStates,
  hasRecords,
  lastEntrySeq,
  putEntryRows,
  putRecordRefs,
  readEntries,
  readEntry,
  readRecords,
} from '../../src/engine/entry-rows.ts'
import { K } from '../../src/engine/keys.ts'
import { MemoryStore } from '../../src/storage/memory-store.ts'
import type { BatchOp } from '../../src/storage/store.ts'

/** Something shaped like a record: a map with a header, of any size. */
const record = fc.record({
  header: fc.record({ kind: fc.constantFrom('a', 'b'), at: fc.nat(), subject: fc.string({ maxLength: 8 }) }),
  sig: fc.uint8Array({ minLength: 0, maxLength: 80 }),
})
/** An entry's shape, with what the scan must pass over around the records. */
const entry = fc.record({
  body: fc.record({
    origin: fc.constant('o'),
    changes: fc.array(
      fc.record({
        doc: fc.string({ maxLength: 6 }),
        records: fc.array(record, { maxLength: 5 }),
        update: fc.uint8Array({ maxLength: 40 }),
      }),
      { maxLength: 4 },
    ),
    deps: fc.dictionary(fc.string({ maxLength: 3 }), fc.nat()),
  }),
  sig: fc.uint8Array({ minLength: 64, maxLength: 64 }),
})

async function stored(entries: Array<{ origin: string; value: unknown }>) {
  const store = new MemoryStore()
  await store.start()
  const ops: BatchOp[] = []
  const seqs = new Map<string, number>()
  const kept: Array<{ origin: string; seq: number; bytes: Uint8Array; value: SignedEntry }> = []
  for (const { origin, value } of entries) {
    const seq = (seqs.get(origin) ?? 0) + 1
    seqs.set(origin, seq)
    const bytes = encodeCanonical(value)
    putEntryRows(ops, origin, seq, bytes)
    kept.push({ origin, seq, bytes, value: value as SignedEntry })
  }
  await store.write(ops)
  return { store, kept }
}

describe('entry rows', () => {
  it('name the place of each change’s update among the rows, where it reads back byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ origin: fc.constantFrom('n1', 'n2'), value: entry }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (list) => {
          const { store, kept } = await stored(list)
          for (const e of kept) {
            const updates = e.value.body.changes.map((c) => c.update)
            const places = new Map<Uint8Array, Uint8Array>()
            const starts = putEntryRows([], e.origin, e.seq, e.bytes)
            docPlaces(places, { ...e, entry: e.value }, starts, new Set(updates))
            expect(places.size).toBe(new Set(updates).size)
            const rows = updates.map((u) => places.get(u)!)
            for (const row of rows) expect(docPlaceOf(row)).toMatchObject({ origin: e.origin, seq: e.seq })
            expect(await docStates(store, rows)).toEqual(updates)
            // Only the updates asked for.
            const none = new Map<Uint8Array, Uint8Array>()
            docPlaces(none, { ...e, entry: e.value }, starts, new Set())
            expect(none.size).toBe(0)
          }
          await store.close()
        },
      ),
      { numRuns: 150 },
    )
  })

  it('read a doc row as a Yjs state, or a place, or name it damaged: whatever its bytes', async () => {
    const store = new MemoryStore()
    await store.start()
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }),
          fc.uint8Array({ maxLength: 40 }).map((b) => Uint8Array.of(0x00, 0x85, ...b)),
          fc
            .tuple(fc.string({ maxLength: 4 }), fc.integer(), fc.integer(), fc.integer(), fc.integer())
            .map((t) => Uint8Array.of(0x00, ...encodeCanonical(t))),
        ),
        async (row) => {
          let place: ReturnType<typeof docPlaceOf>
          try {
            place = docPlaceOf(row)
          } catch (err) {
            expect(err).toMatchObject({ code: 'STORAGE_FAILED' })
            return
          }
          if (place === undefined) {
            expect(await docStates(store, [row])).toEqual([row])
            return
          }
          // A place in no stored entry is damage, named.
          await expect(docStates(store, [row])).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
        },
      ),
      { numRuns: 300 },
    )
    await store.close()
  })

  it('give back each entry as signed, by key and by range, and each record from its row', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ origin: fc.constantFrom('n1', 'n2'), value: entry }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(),
        fc.nat(),
        async (list, a, b) => {
          const { store, kept } = await stored(list)
          for (const e of kept) expect(await readEntry(store, e.origin, e.seq)).toEqual(e.bytes)
          expect(await readEntry(store, 'n1', 99)).toBeUndefined()
          for (const origin of ['n1', 'n2']) {
            const mine = kept.filter((e) => e.origin === origin)
            expect(await lastEntrySeq(store, origin)).toBe(mine.length)
            // Any window of a feed: from, to (inclusive) and a limit.
            const from = 1 + (a % (mine.length + 1))
            const to = from + (b % 3)
            const limit = 1 + (b % 2)
            const got: number[] = []
            for await (const { seq, bytes } of readEntries(store, origin, { from, to, limit })) {
              expect(bytes).toEqual(mine[seq - 1]!.bytes)
              got.push(seq)
            }
            const want = mine
              .map((e) => e.seq)
              .filter((s) => s >= from && s <= to)
              .slice(0, limit)
            expect(got).toEqual(want)
          }
          // Records: each row says where, and the record read back is the one in the entry.
          const ops: BatchOp[] = []
          const ids: string[] = []
          const want: SignedRecord[] = []
          for (const e of kept) {
            const records = e.value.body.changes.flatMap((c) => c.records)
            const pairs = records.map((r, i) => {
              ids.push(`${e.origin}-${e.seq}-${i}`)
              want.push(r)
              return [ids.at(-1)!, { origin: e.origin, seq: e.seq, record: r }] as [string, never]
            })
            putRecordRefs(ops, [{ entry: e.value }], pairs)
          }
          await store.write(ops)
          const back = await readRecords(store, [...ids, 'absent'])
          expect(back.map((r) => r?.record)).toEqual([...want, undefined])
          expect(await hasRecords(store, [ids[0] ?? 'absent', 'absent'])).toEqual([ids.length > 0, false])
          // Deleting an entry takes all its rows.
          const last = kept.at(-1)!
          await store.write(await deleteEntryRows(store, last.origin, last.seq))
          expect(await readEntry(store, last.origin, last.seq)).toBeUndefined()
          const left: string[] = []
          for await (const [k] of store.range({
            gte: K.entryRows(last.origin, last.seq),
            lt: K.entryRows(last.origin, last.seq + 1),
          }))
            left.push(k)
          expect(left).toEqual([])
          await store.close()
        },
      ),
      { numRuns: 150 },
    )
  })

  it('names a store that lost an entry row, instead of serving a shorter entry', async () => {
    const value = {
      body: {
        changes: [
          {
            doc: 'd',
            records: [
              { header: { kind: 'a' }, sig: new Uint8Array(64) },
              { header: { kind: 'b' }, sig: new Uint8Array(64) },
            ],
          },
        ],
      },
      sig: new Uint8Array(64),
    }
    const { store } = await stored([{ origin: 'n1', value }])
    await store.write([{ type: 'del', key: K.entryRow('n1', 1, 2) }])
    await expect(readEntry(store, 'n1', 1)).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
    // A lost row is not filled by the next entry's first row.
    const two = await stored([
      { origin: 'n1', value },
      { origin: 'n1', value },
    ])
    await two.store.write([{ type: 'del', key: K.entryRow('n1', 1, 2) }])
    const served: number[] = []
    await expect(
      (async () => {
        for await (const { seq } of readEntries(two.store, 'n1', { from: 1 })) served.push(seq)
      })(),
    ).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
    expect(served).toEqual([])
    await two.store.close()
    // A damaged count is named, not taken for billions of rows to read.
    const row0 = (await store.get(K.entryRow('n1', 1, 0)))!.slice()
    row0.set([0xff, 0xff, 0xff, 0xff])
    await store.write([{ type: 'put', key: K.entryRow('n1', 2, 0), value: row0 }])
    await expect(readEntry(store, 'n1', 2)).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
    await expect(
      (async () => {
        for await (const _ of readEntries(store, 'n1', { from: 1 })) void _
      })(),
    ).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
    // A record row whose entry is gone is named too.
    const ops: BatchOp[] = []
    putRecordRefs(
      ops,
      [{ entry: value as unknown as SignedEntry }],
      [['r', { origin: 'n1', seq: 1, record: value.body.changes[0]!.records[1] as unknown as SignedRecord }]],
    )
    await store.write(ops)
    await expect(readRecords(store, ['r'])).rejects.toMatchObject({ code: 'STORAGE_FAILED' })
    // A record not in the entries it is stored with is a fault of the writer.
    expect(() =>
      putRecordRefs(
        [],
        [{ entry: value as unknown as SignedEntry }],
        [
          [
            'x',
            {
              origin: 'n1',
              seq: 1,
              record: { ...value.body.changes[0]!.records[0]! } as unknown as SignedRecord,
            },
          ],
        ],
      ),
    ).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
    await store.close()
  })

  it('reads an entry kept whole (data format 3) among entries in rows, and deletes rows whatever row 0 says', async () => {
    const value = (n: number) => ({
      body: {
        changes: [
          { records: Array.from({ length: n }, (_, i) => ({ header: { i }, sig: new Uint8Array(64) })) },
        ],
      },
      sig: new Uint8Array(64),
    })
    const { store, kept } = await stored([
      { origin: 'n1', value: value(2) },
      { origin: 'n1', value: value(0) },
      { origin: 'n1', value: value(3) },
    ])
    const whole = encodeCanonical(value(1))
    const ops = await deleteEntryRows(store, 'n1', 2)
    ops.push({ type: 'put', key: `${K.entries('n1')}${'2'.padStart(12, '0')}`, value: whole })
    await store.write(ops)
    const got: Array<[number, Uint8Array]> = []
    for await (const { seq, bytes } of readEntries(store, 'n1', { from: 1 })) got.push([seq, bytes])
    expect(got).toEqual([
      [1, kept[0]!.bytes],
      [2, whole],
      [3, kept[2]!.bytes],
    ])
    const from2: number[] = []
    for await (const { seq } of readEntries(store, 'n1', { from: 2, limit: 1 })) from2.push(seq)
    expect(from2).toEqual([2])
    // Row 0 says no records follow, but four rows are there: all go.
    await store.write([{ type: 'put', key: K.entryRow('n1', 3, 0), value: new Uint8Array(4) }])
    expect(await deleteEntryRows(store, 'n1', 3)).toHaveLength(4)
    await store.close()
  })
})
