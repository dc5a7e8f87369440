import { parse } from 'csv-parse/sync';
import type { DbHandle } from '../platform/db/index.ts';
import { AppError } from '../platform/errors.ts';
import { CODE_PATTERN, HASHTAG_PATTERN, isOrganisationKind, isServiceKind, splitHashtags } from './kinds.ts';
import { addService, createOrganisation } from './directory.ts';

/**
 * Imports a directory from CSV with the header `code,name,kind,parent_code,hashtags`.
 * Every row is checked before anything is written; any bad row stops the whole import, and every
 * problem is reported with its line number. A row whose kind is an organisation kind creates an
 * organisation (no parent); any other row is a service under `parent_code` (a code in the file or
 * already in the directory) or, when the import is for one organisation, under its root.
 */
export interface RowProblem {
  line: number;
  message: string;
}

export class DirectoryImportError extends AppError {
  constructor(readonly problems: RowProblem[]) {
    super('bad_directory_csv', 400, problems.map((p) => `line ${p.line}: ${p.message}`).join('; '), problems);
  }
}

interface Row {
  line: number;
  code: string;
  name: string;
  kind: string;
  parentCode: string;
  hashtags: string[];
}

const HEADER = ['code', 'name', 'kind', 'parent_code', 'hashtags'];

export async function importDirectoryCsv(handle: DbHandle, csv: string, opts: { orgCode?: string } = {}): Promise<{ organisations: number; services: number }> {
  let records: Array<{ record: Record<string, string>; info: { lines: number } }>;
  try {
    records = parse(csv, { columns: true, info: true, skip_empty_lines: true, trim: true, bom: true, relax_column_count: false });
  } catch (err) {
    const e = err as { lines?: number; message: string };
    throw new DirectoryImportError([{ line: e.lines ?? 1, message: `not valid CSV (${e.message.replace(/^Invalid Record Length: /, '')})` }]);
  }
  const first = records[0];
  if (!first) throw new DirectoryImportError([{ line: 1, message: 'the file has no rows' }]);
  const missing = HEADER.filter((h) => !(h in first.record));
  if (missing.length) throw new DirectoryImportError([{ line: 1, message: `the header must be ${HEADER.join(',')} (missing ${missing.join(', ')})` }]);

  const db = handle.db;
  const problems: RowProblem[] = [];
  const rows: Row[] = records.map(({ record, info }) => ({
    line: info.lines,
    code: record.code ?? '',
    name: record.name ?? '',
    kind: (record.kind ?? '').toLowerCase(),
    parentCode: record.parent_code ?? '',
    hashtags: splitHashtags(record.hashtags ?? ''),
  }));

  let importOrg: { root: string } | undefined;
  if (opts.orgCode) {
    const org = await db.selectFrom('organisations').select('ods_code').where('ods_code', '=', opts.orgCode).executeTakeFirst();
    if (!org) throw new AppError('organisation_not_found', 404, `No organisation has the ODS code ${opts.orgCode}`);
    importOrg = { root: org.ods_code };
  }

  const codesInFile = new Map<string, number>();
  const tagsInFile = new Map<string, number>();
  const existingCodes = new Set(
    (await db.selectFrom('services').select('code').where('code', 'in', rows.map((r) => r.code).filter(Boolean).concat(rows.map((r) => r.parentCode).filter(Boolean)).concat([''])).execute()).map((r) => r.code),
  );
  const allTags = rows.flatMap((r) => r.hashtags.map((t) => t.replace(/^#/, '').toLowerCase()));
  const existingTags = new Set(
    (await db.selectFrom('service_hashtags').select('tag').where('tag', 'in', allTags.concat([''])).execute()).map((r) => r.tag),
  );

  for (const r of rows) {
    const say = (message: string) => problems.push({ line: r.line, message });
    if (!CODE_PATTERN.test(r.code)) say(`code "${r.code}" must be 2 to 32 letters, digits or hyphens`);
    else if (existingCodes.has(r.code)) say(`code ${r.code} is already in the directory`);
    else if (codesInFile.has(r.code)) say(`code ${r.code} is also on line ${codesInFile.get(r.code)}`);
    else codesInFile.set(r.code, r.line);
    if (!r.name) say('name is empty');
    else if (r.name.length > 200) say('name is longer than 200 characters');
    const orgRow = isOrganisationKind(r.kind);
    if (!orgRow && !isServiceKind(r.kind)) say(`kind "${r.kind}" is not known`);
    if (orgRow && r.parentCode) say('an organisation row must have no parent_code');
    if (orgRow && importOrg) say('an organisation cannot be added inside another organisation');
    if (!orgRow && !r.parentCode && !importOrg) say('parent_code is empty (give the parent service or organisation code)');
    for (const t of r.hashtags) {
      const m = HASHTAG_PATTERN.exec(t);
      if (!m) {
        say(`"${t}" is not a hashtag (letters, digits and _ only)`);
        continue;
      }
      const key = m[1]!.toLowerCase();
      if (existingTags.has(key)) say(`#${m[1]} is already used by another service`);
      else if (tagsInFile.has(key)) say(`#${m[1]} is also on line ${tagsInFile.get(key)}`);
      else tagsInFile.set(key, r.line);
    }
  }
  for (const r of rows) {
    if (r.parentCode && !codesInFile.has(r.parentCode) && !existingCodes.has(r.parentCode)) {
      problems.push({ line: r.line, message: `parent_code ${r.parentCode} is neither in the file nor in the directory` });
    }
  }

  // Order rows so that every parent comes before its children; a cycle is a problem too.
  const byCode = new Map(rows.map((r) => [r.code, r]));
  const ordered: Row[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (r: Row): void => {
    const s = state.get(r.code);
    if (s === 'done') return;
    if (s === 'visiting') {
      problems.push({ line: r.line, message: `parent_code ${r.parentCode} makes a loop` });
      return;
    }
    state.set(r.code, 'visiting');
    const parent = byCode.get(r.parentCode);
    if (parent && parent !== r) visit(parent);
    state.set(r.code, 'done');
    ordered.push(r);
  };
  if (problems.length === 0) rows.forEach(visit);
  if (problems.length) throw new DirectoryImportError(problems.sort((a, b) => a.line - b.line));

  let organisations = 0;
  let services = 0;
  await db.transaction().execute(async (trx) => {
    for (const r of ordered) {
      if (isOrganisationKind(r.kind)) {
        await createOrganisation(trx, handle.dialect, { odsCode: r.code, name: r.name, kind: r.kind, hashtags: r.hashtags });
        organisations++;
      } else {
        await addService(trx, handle.dialect, r.parentCode || importOrg!.root, { code: r.code, name: r.name, kind: r.kind, hashtags: r.hashtags });
        services++;
      }
    }
  });
  return { organisations, services };
}
