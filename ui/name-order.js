// Sorts the Files list's names off the page's thread (see `orderNamesAside` in app.js): the
// order, as indexes into the names sent, that the page's collator gives, equal names in the
// order they came.
onmessage = ({ data: { languages, options, names } }) => {
  const collator = new Intl.Collator(languages, options);
  const order = new Int32Array(names.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((i, j) => collator.compare(names[i], names[j]) || i - j);
  postMessage({ order }, [order.buffer]);
};
