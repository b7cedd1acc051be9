reload source
