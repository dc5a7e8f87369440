import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importDirectoryCsv, DirectoryImportError } from '../src/directory/import.ts';
import { serviceByCode, subtreeIds } from '../src/directory/directory.ts';
import { seedDemo } from '../src/demo/seed.ts';
import { startTestApp, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => t.close());

const count = async (table: 'services' | 'organisations') => Number((await t.handle.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

describe(`directory on ${TEST_DB}`, () => {
  it('imports nothing when any row is bad, and names every bad row by line', async () => {
    const csv = [
      'code,name,kind,parent_code,hashtags',
      'ZZ1,Test Trust,acute_trust,,#TestTrust',
      'ZZ1-A,Site A,site,ZZ1,#SiteA',
      'ZZ1-B,,ward,ZZ1-A,',
      'ZZ1-C,Ward C,spaceship,ZZ1-A,',
      'ZZ1-D,Ward D,ward,NOPE,#sitea',
      '"ZZ1 E",Ward E,ward,ZZ1-A,#bad-tag',
    ].join('\n');
    const err = await importDirectoryCsv(t.handle, csv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryImportError);
    const lines = (err as DirectoryImportError).problems.map((p) => p.line);
    expect(lines).toEqual(expect.arrayContaining([4, 5, 6, 7]));
    expect(lines).not.toContain(2);
    expect((err as DirectoryImportError).message).toMatch(/line 4: name is empty/);
    expect((err as DirectoryImportError).message).toMatch(/line 6: .*#sitea.*line 3/i);
    expect(await count('organisations')).toBe(0);
    expect(await count('services')).toBe(0);
  });

  it('rejects a CSV with the wrong header or a ragged row', async () => {
    await expect(importDirectoryCsv(t.handle, 'code,name\nA1,B')).rejects.toThrow(/header/);
    await expect(importDirectoryCsv(t.handle, 'code,name,kind,parent_code,hashtags\nAB,x,site')).rejects.toThrow(/line/);
    await expect(importDirectoryCsv(t.handle, '')).rejects.toThrow(/no rows/);
  });

  it('loads the demo region (twice without change) and answers subtree queries', async () => {
    const first = await seedDemo(t.handle, { stories: 0 });
    expect(first.organisations).toBeGreaterThanOrEqual(6);
    const second = await seedDemo(t.handle, { stories: 0 });
    expect(second).toEqual({ organisations: 0, services: 0, users: 0, stories: 0, pending: 0 });
    const trust = (await serviceByCode(t.handle.db, 'RR8'))!;
    const lgi = (await serviceByCode(t.handle.db, 'RR813'))!;
    const maternity = (await serviceByCode(t.handle.db, 'RR813-MAT'))!;
    const inTrust = await subtreeIds(t.handle.db, trust);
    const inLgi = await subtreeIds(t.handle.db, lgi);
    expect(inLgi).toContain(maternity.id);
    expect(inLgi).toContain((await serviceByCode(t.handle.db, 'RR813-L51'))!.id);
    expect(inLgi).not.toContain((await serviceByCode(t.handle.db, 'RR801-J06'))!.id);
    expect(inTrust.length).toBeGreaterThan(inLgi.length);
    const wards = await t.handle.db.selectFrom('services').select('kind').where('org_id', '=', trust.org_id).where('kind', 'in', ['ward', 'department', 'clinic']).execute();
    expect(wards.length).toBeGreaterThanOrEqual(15);
  });

  it('imports services into one organisation with --org and rejects a duplicate code', async () => {
    const r = await importDirectoryCsv(t.handle, 'code,name,kind,parent_code,hashtags\nB86901-PHL,Phlebotomy clinic,clinic,,#MeanwoodBloods', { orgCode: 'B86901' });
    expect(r).toEqual({ organisations: 0, services: 1 });
    const svc = (await serviceByCode(t.handle.db, 'B86901-PHL'))!;
    expect(svc.parent_id).toBe((await serviceByCode(t.handle.db, 'B86901'))!.id);
    await expect(importDirectoryCsv(t.handle, 'code,name,kind,parent_code,hashtags\nB86901-PHL,Again,clinic,,', { orgCode: 'B86901' })).rejects.toThrow(/already in the directory/);
  });

  it('finds services by name, code and hashtag (any case, with or without #)', async () => {
    const find = async (q: string) => {
      const res = await t.app.inject({ url: `/api/v1/services?q=${encodeURIComponent(q)}` });
      expect(res.statusCode).toBe(200);
      return (res.json() as { items: Array<{ code: string }> }).items.map((i) => i.code);
    };
    expect(await find('#ward7lgi')).toEqual(['RR813-W07']);
    expect(await find('Ward7LGI')).toEqual(['RR813-W07']);
    expect(await find('rr801')).toEqual(['RR801']);
    expect(await find('cardiology ward')).toEqual(['RR813-W07']);
    expect(await find('100%_')).toEqual([]);
  });

  it('answers a service with organisation, parent, hashtags and children', async () => {
    const res = await t.app.inject({ url: '/api/v1/services/RR813' });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ code: 'RR813', name: 'Leeds General Infirmary', organisation: { code: 'RR8' }, parent: { code: 'RR8' }, hashtags: ['#LGI'] });
    expect(body.children.map((c: { code: string }) => c.code)).toContain('RR813-W07');
    const missing = await t.app.inject({ url: '/api/v1/services/NOPE' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: { code: 'service_not_found', message: expect.any(String) } });
  });

  it('pages a list by cursor and refuses a forged cursor', async () => {
    const first = (await t.app.inject({ url: '/api/v1/services?q=ward&limit=3' })).json();
    expect(first.items).toHaveLength(3);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = (await t.app.inject({ url: `/api/v1/services?q=ward&limit=3&cursor=${first.nextCursor}` })).json();
    const codes = new Set([...first.items, ...second.items].map((i: { code: string }) => i.code));
    expect(codes.size).toBe(6);
    const bad = await t.app.inject({ url: '/api/v1/services?q=ward&cursor=not-a-cursor' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('bad_cursor');
    const tooLong = await t.app.inject({ url: `/api/v1/services?q=${'x'.repeat(500)}` });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json().error.code).toBe('invalid_request');
  });

  it('shows a service page with breadcrumbs and child services', async () => {
    const res = await t.app.inject({ url: '/services/RR813-MAT', headers: { accept: 'text/html' } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('nhsuk-breadcrumb');
    expect(res.body).toMatch(/href="\/services\/RR8"[^>]*>\s*Leeds Teaching Hospitals NHS Trust/);
    expect(res.body).toMatch(/href="\/services\/RR813"[^>]*>\s*Leeds General Infirmary/);
    expect(res.body).toContain('Ward L51 (Labour Ward)');
    expect(res.body).toContain('#LGIMaternity');
  });
});
