import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { Canvas, fitText, textWidth, tile } from './canvas.js';
import { canRender, dot, glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from './font5x7.js';
import { confusionPng, confusionSvg, matrixLayout, shade } from './matrix.js';
import { contactSheet, sheetLayout } from './sheet.js';

/** The glyph as rows of # and . (top row first). */
const picture = (ch: string) =>
  Array.from({ length: GLYPH_HEIGHT }, (_, y) => Array.from({ length: GLYPH_WIDTH }, (_, x) => (dot(ch, x, y) ? '#' : '.')).join(''));

test('the 5x7 font has every printable ASCII character, each drawn distinctly', () => {
  const chars = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
  const shapes = new Set(chars.map((c) => glyph(c).join(',')));
  assert.equal(shapes.size, chars.length, 'no two characters look the same');
  assert.ok(chars.slice(1).every((c) => glyph(c).some((col) => col !== 0)), 'only the space is blank');
  assert.ok(chars.every((c) => glyph(c).every((col) => col < 0x80)), 'seven rows');
  assert.deepEqual(picture('A'), ['.###.', '#...#', '#...#', '#...#', '#####', '#...#', '#...#']);
  assert.deepEqual(picture('1'), ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.']);
  assert.deepEqual(picture('d'), ['....#', '....#', '.##.#', '#..##', '#...#', '#...#', '.####']);
  assert.deepEqual(glyph('é'), glyph('?'), 'a character the font lacks shows as ?');
  assert.equal(canRender('bolt d=0.0123'), true);
  assert.equal(canRender('양호'), false);
});

test('canvas text: width, fitting, and ink where it is drawn', () => {
  assert.equal(textWidth('ab', 2), 22);
  assert.equal(textWidth('', 2), 0);
  assert.equal(fitText('short', 100), 'short');
  const cut = fitText('a-very-long-label-indeed', 60);
  assert.ok(cut.endsWith('..') && textWidth(cut) <= 60, cut);
  const c = new Canvas(40, 20);
  c.text(2, 2, 'Hi', [0, 0, 0], 2);
  let ink = 0;
  for (let y = 0; y < 20; y++) for (let x = 0; x < 40; x++) if (c.get(x, y)[0] === 0) ink++;
  // H has 5+5+3... dots: count them from the font, four pixels each at scale 2.
  const dots = ['H', 'i'].reduce((n, ch) => n + glyph(ch).reduce((m, col) => m + col.toString(2).split('1').length - 1, 0), 0);
  assert.equal(ink, dots * 4);
});

test('contact sheet: the query at the left, the results in order with captions under them', async () => {
  const solid = (r: number, g: number, b: number) => sharp({ create: { width: 50, height: 30, channels: 3, background: { r, g, b } } }).png().toBuffer();
  const query = await solid(250, 0, 0);
  const png = await contactSheet(
    { bytes: query, name: 'query.png' },
    [
      { bytes: await solid(0, 250, 0), label: 'bolt', distance: 0.01 },
      { bytes: null, label: null, distance: 0.2 },
      { bytes: Buffer.from('not a picture'), label: '양호', distance: 0.3 },
    ],
    64,
  );
  const layout = sheetLayout(3, 64);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [layout.width, layout.height]);
  const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  // A 50x30 picture fitted in a 64 square: the middle is the picture, the top band is padding.
  assert.deepEqual(px(layout.queryX + 32, layout.tileY + 32), [250, 0, 0]);
  assert.deepEqual(px(layout.queryX + 32, layout.tileY + 2), [235, 235, 235]);
  assert.deepEqual(px(layout.resultX[0] + 32, layout.tileY + 32), [0, 250, 0]);
  assert.deepEqual(px(layout.resultX[1] + 2, layout.tileY + 2), [200, 200, 200], 'a grey tile where there is no picture');
  assert.ok(layout.resultX[0] > layout.queryX + 64, 'results right of the query');
  for (const x0 of [layout.queryX, ...layout.resultX]) {
    let ink = 0;
    for (let y = layout.captionY; y < layout.height; y++) for (let x = x0; x < x0 + 64; x++) if (px(x, y)[0] < 150) ink++;
    assert.ok(ink > 20, `a caption under x=${x0}`);
  }
});

test('sheet layout grows with k and keeps the tiles apart', () => {
  const one = sheetLayout(1, 100);
  const three = sheetLayout(3, 100);
  assert.equal(three.width - one.width, 2 * (three.resultX[1] - three.resultX[0]));
  assert.ok(three.resultX[1] - three.resultX[0] > 100);
  assert.equal(sheetLayout(0, 100).resultX.length, 0);
});

test('confusion matrix: SVG with a cell per pair, PNG of the computed size', async () => {
  const c = { labels: ['bolt', 'nut'], predicted: ['bolt', 'nut', '(none)'], matrix: [[3, 1, 0], [0, 2, 1]] };
  const svg = confusionSvg(c, 'parts k=1 <&>');
  assert.equal(svg.match(/class="cell"/g)?.length, 6);
  assert.match(svg, /parts k=1 &lt;&amp;&gt;/);
  assert.match(svg, /class="predicted"[^>]*>\(none\)</);
  assert.equal((await sharp(Buffer.from(svg)).metadata()).format, 'svg');
  const png = await confusionPng(c, 'parts k=1');
  const meta = await sharp(png).metadata();
  const layout = matrixLayout(c);
  assert.deepEqual([meta.width, meta.height], [layout.width, layout.height]);
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  // Row bolt: 3 of 4 predicted bolt (dark), none predicted (none) (lightest).
  assert.deepEqual(at(layout.left + 3, layout.top + 3), [...shade(0.75)]);
  assert.deepEqual(at(layout.left + 2 * layout.cell + 3, layout.top + 3), [...shade(0)]);
});

test('tile: any picture fitted to a square, EXIF orientation applied', async () => {
  const tall = await sharp({ create: { width: 10, height: 40, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }).png().toBuffer();
  const raw = await tile(tall, 20);
  assert.equal(raw.length, 20 * 20 * 3);
  assert.deepEqual([...raw.subarray((10 * 20 + 10) * 3, (10 * 20 + 10) * 3 + 3)], [0, 0, 255]);
  assert.deepEqual([...raw.subarray(0, 3)], [235, 235, 235]);
  // Stored 40 wide and 10 high, shown (orientation 6) 10 wide and 40 high: a tall strip in the tile.
  const rotated = await sharp({ create: { width: 40, height: 10, channels: 3, background: { r: 255, g: 0, b: 0 } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const upright = await tile(rotated, 20);
  const red = (x: number, y: number) => upright[(y * 20 + x) * 3] > 200 && upright[(y * 20 + x) * 3 + 1] < 60;
  assert.ok(red(10, 1) && red(10, 18), 'the strip spans the height');
  assert.ok(!red(1, 10) && !red(18, 10), 'padding at the sides');
});
