// Task listproducts of the webshop: returns the product catalog (the
// Online Boutique's nine products; prices in USD cents). It is the one
// source of product data: getproduct, searchproducts, listrecommendations
// and checkout call it sync.
package main

import "github.com/fusionize/fusionize/guest-sdk/go/task"

const catalog = `[
{"id":"OLJCESPC7Z","name":"Sunglasses","description":"Add a modern touch to your outfits with these sleek aviator sunglasses.","priceUsdCents":1999,"categories":["accessories"]},
{"id":"66VCHSJNUP","name":"Tank Top","description":"Perfectly cropped cotton tank, with a scooped neckline.","priceUsdCents":1899,"categories":["clothing","tops"]},
{"id":"1YMWWN1N4O","name":"Watch","description":"This gold-tone stainless steel watch will work with most of your outfits.","priceUsdCents":10999,"categories":["accessories"]},
{"id":"L9ECAV7KIM","name":"Loafers","description":"A neat addition to your summer wardrobe.","priceUsdCents":8999,"categories":["footwear"]},
{"id":"2ZYFJ3GM2N","name":"Hairdryer","description":"This lightweight hairdryer has 3 heat and speed settings.","priceUsdCents":2499,"categories":["hair","beauty"]},
{"id":"0PUK6V6EV0","name":"Candle Holder","description":"This small but intricate candle holder is an excellent gift.","priceUsdCents":1899,"categories":["decor","home"]},
{"id":"LS4PSXUNUM","name":"Salt & Pepper Shakers","description":"Add some flavor to your kitchen.","priceUsdCents":1849,"categories":["kitchen"]},
{"id":"9SIQT8TOJO","name":"Bamboo Glass Jar","description":"This bamboo glass jar can hold 57 oz (1.7 l) and is perfect for any kitchen.","priceUsdCents":549,"categories":["kitchen"]},
{"id":"6E92ZMYYFZ","name":"Mug","description":"A simple mug with a mustard interior.","priceUsdCents":899,"categories":["kitchen"]}
]`

var out = []byte(catalog)

func init() {
	task.Handle(func([]byte) ([]byte, error) { return out, nil })
}

func main() {}
